package helperipc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// errTooLarge is a line or body over MaxMessage.
var errTooLarge = fmt.Errorf("message over %d bytes", MaxMessage)

// lineReader reads one JSON object a line (the steps of a connect), refusing lines over
// MaxMessage before buffering them whole.
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

// Version 1 of the channel was one JSON object a line each way, starting with '{'; HTTP starts
// with a method (the client's request) or "HTTP/" (the server's answer). The first byte tells
// them apart, so each side can refuse the other release in words instead of a parse error or a
// hang.

// v1Refusal is what a version 1 client gets from this helper: an error line of its own
// protocol, which it prints.
func v1Refusal() []byte {
	b, _ := json.Marshal(map[string]any{"v": 1, "type": "error", "code": CodeVersion,
		"error": fmt.Sprintf("this helper speaks protocol version %d (HTTP), not 1: use a hyp of the same release as the helper", Version)})
	return append(b, '\n')
}

// sniffConn watches the first byte the other end sends.
type sniffConn struct {
	net.Conn
	seen atomic.Bool // the first read returned data
	v1   atomic.Bool // and it was '{': the other end speaks version 1
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.seen.CompareAndSwap(false, true) && p[0] == '{' {
		c.v1.Store(true)
	}
	return n, err
}

// errV1Helper is what a client says when the helper answered in version 1.
func errV1Helper() error {
	return fmt.Errorf("%w: the running helper speaks protocol version 1 (an older hyp), this hyp %d: use a hyp of the same release as the helper (or restart the helper after upgrading: hyp helper restart)", ErrVersion, Version)
}

// writeWithin writes b within timeout.
func writeWithin(c net.Conn, timeout time.Duration, b []byte) error {
	if err := c.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	_, err := c.Write(b)
	return err
}
