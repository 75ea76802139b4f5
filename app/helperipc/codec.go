package helperipc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// errTooLarge is a line over MaxMessage.
var errTooLarge = fmt.Errorf("message over %d bytes", MaxMessage)

// lineReader reads one JSON message a line, refusing lines over MaxMessage
// before buffering them whole.
type lineReader struct{ r *bufio.Reader }

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 4096)}
}

func (l *lineReader) read(v any) error {
	var line []byte
	for {
		chunk, err := l.r.ReadSlice('\n')
		if len(line)+len(chunk) > MaxMessage {
			return errTooLarge
		}
		line = append(line, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if err := json.Unmarshal(line, v); err != nil {
		return fmt.Errorf("malformed message: %w", err)
	}
	return nil
}

// write sends v as one line, within timeout.
func write(c net.Conn, timeout time.Duration, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding a message: %w", err)
	}
	if len(b) >= MaxMessage {
		return errTooLarge
	}
	if err := c.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	_, err = c.Write(append(b, '\n'))
	return err
}
