package autostart

// runValue is a Run key value for exe: always quoted, since Windows splits
// an unquoted "C:\Program Files\..." at the first space. A Windows path holds
// no double quote, so nothing inside needs escaping.
func runValue(exe string) string { return `"` + exe + `"` }
