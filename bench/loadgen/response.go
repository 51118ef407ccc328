package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// responseReader reads HTTP/1.1 responses one after another from a connection (RFC 9112), keeping only
// what the generator needs: the status code and whether the connection stays open. Bodies are skipped
// in place, so a response costs no allocation once the buffer has grown to the largest head.
type responseReader struct {
	src  io.Reader
	buf  []byte
	r, w int // unread bytes are buf[r:w]
}

const (
	maxHeadBytes = 64 << 10
	maxLineBytes = 4 << 10
)

var (
	errHeadTooLarge = errors.New("response head larger than 64 KB")
	errMalformed    = errors.New("malformed HTTP response")
)

func newResponseReader(src io.Reader) *responseReader {
	return &responseReader{src: src, buf: make([]byte, 16<<10)}
}

// fill reads more bytes after buf[w], first moving the unread ones to the front (or growing the buffer,
// up to limit, when they already fill it).
func (p *responseReader) fill(limit int) error {
	if p.r > 0 {
		p.w = copy(p.buf, p.buf[p.r:p.w])
		p.r = 0
	}
	if p.w == len(p.buf) {
		if len(p.buf) >= limit {
			return errHeadTooLarge
		}
		bigger := make([]byte, min(2*len(p.buf), limit))
		copy(bigger, p.buf[:p.w])
		p.buf = bigger
	}
	n, err := p.src.Read(p.buf[p.w:])
	p.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		return io.ErrNoProgress
	}
	return err
}

// upTo returns the bytes before the next occurrence of sep (which it consumes too), reading more as needed.
func (p *responseReader) upTo(sep []byte, limit int) ([]byte, error) {
	scanned := 0
	for {
		if i := bytes.Index(p.buf[p.r+scanned:p.w], sep); i >= 0 {
			end := p.r + scanned + i
			out := p.buf[p.r:end]
			p.r = end + len(sep)
			return out, nil
		}
		// The separator may straddle what is here and what comes next.
		scanned = max(0, p.w-p.r-len(sep)+1)
		if p.w-p.r >= limit {
			return nil, errHeadTooLarge
		}
		if err := p.fill(limit); err != nil {
			return nil, unexpected(err)
		}
	}
}

// skip consumes n body bytes.
func (p *responseReader) skip(n int64) error {
	for {
		take := min(n, int64(p.w-p.r))
		p.r += int(take)
		n -= take
		if n == 0 {
			return nil
		}
		p.r, p.w = 0, 0
		if err := p.fill(len(p.buf)); err != nil {
			return unexpected(err)
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
)

// next reads one whole final response: its status, and false for keepAlive when the server closes the
// connection after it (Connection: close, HTTP/1.0 without keep-alive, or a body delimited by the close).
func (p *responseReader) next() (status int, keepAlive bool, err error) {
	for {
		if p.r == p.w {
			// Between responses: a clean EOF here is the server closing an idle connection.
			p.r, p.w = 0, 0
			if err := p.fill(maxHeadBytes); err != nil {
				return 0, false, err
			}
		}
		head, err := p.upTo(crlfcrlf, maxHeadBytes)
		if err != nil {
			return 0, false, err
		}
		h, err := parseHead(head)
		if err != nil {
			return 0, false, err
		}
		switch {
		case h.status == 101:
			return 0, false, fmt.Errorf("%w: unexpected 101 Switching Protocols", errMalformed)
		case h.status < 200:
			continue // 1xx interim response (100 Continue, 103 Early Hints): no body, the final one follows
		case h.status == 204 || h.status == 304:
		case h.chunked:
			if err := p.skipChunked(); err != nil {
				return 0, false, err
			}
		case h.contentLength >= 0:
			if err := p.skip(h.contentLength); err != nil {
				return 0, false, err
			}
		default:
			// No length: the body runs to the end of the connection (RFC 9112 §6.3, rule 8).
			for {
				p.r, p.w = 0, 0
				if err := p.fill(len(p.buf)); err == io.EOF {
					break
				} else if err != nil {
					return 0, false, err
				}
			}
			return h.status, false, nil
		}
		return h.status, h.keepAlive, nil
	}
}

// skipChunked consumes a chunked body: chunks, the last (zero-size) chunk and any trailer fields.
func (p *responseReader) skipChunked() error {
	for {
		line, err := p.upTo(crlf, maxLineBytes)
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // chunk extensions
		}
		size, ok := parseUint(bytes.TrimRight(line, " \t"), 16)
		if !ok {
			return fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		if size == 0 {
			for {
				trailer, err := p.upTo(crlf, maxLineBytes)
				if err != nil {
					return err
				}
				if len(trailer) == 0 {
					return nil
				}
			}
		}
		if err := p.skip(size); err != nil {
			return err
		}
		end, err := p.upTo(crlf, maxLineBytes)
		if err != nil {
			return err
		}
		if len(end) != 0 {
			return fmt.Errorf("%w: chunk longer than its size", errMalformed)
		}
	}
}

type responseHead struct {
	status        int
	contentLength int64 // -1: absent
	chunked       bool
	keepAlive     bool
}

// parseHead reads the status line and the three fields that frame the message.
func parseHead(head []byte) (responseHead, error) {
	h := responseHead{contentLength: -1}
	line, rest, _ := bytes.Cut(head, crlf)
	// "HTTP/1.1 200 OK": version, space, three digits, then a space or the end of the line.
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return h, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return h, fmt.Errorf("%w: status line %q", errMalformed, line)
		}
		h.status = h.status*10 + int(c-'0')
	}
	http11 := line[7] == '1'
	h.keepAlive = http11
	for len(rest) > 0 {
		var field []byte
		field, rest, _ = bytes.Cut(rest, crlf)
		name, value, ok := bytes.Cut(field, []byte(":"))
		if !ok {
			return h, fmt.Errorf("%w: header line %q", errMalformed, field)
		}
		value = bytes.Trim(value, " \t")
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := parseUint(value, 10)
			if !ok || (h.contentLength >= 0 && h.contentLength != n) {
				return h, fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
			h.contentLength = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			// Chunked must be the last coding applied (RFC 9112 §6.1).
			codings := bytes.Split(value, []byte(","))
			h.chunked = bytes.EqualFold(bytes.Trim(codings[len(codings)-1], " \t"), []byte("chunked"))
			if !h.chunked {
				h.keepAlive = false // length is then "until close"
			}
		case bytes.EqualFold(name, []byte("Connection")):
			for _, opt := range bytes.Split(value, []byte(",")) {
				opt = bytes.Trim(opt, " \t")
				if bytes.EqualFold(opt, []byte("close")) {
					h.keepAlive = false
				} else if !http11 && bytes.EqualFold(opt, []byte("keep-alive")) {
					h.keepAlive = true
				}
			}
		}
	}
	if h.chunked {
		h.contentLength = -1 // Transfer-Encoding overrides Content-Length (RFC 9112 §6.3, rule 3)
	}
	return h, nil
}

// parseUint reads a decimal Content-Length or a hexadecimal chunk size (at most 15 digits: no overflow).
func parseUint(b []byte, base int64) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		digit := base // not a digit
		switch lower := c | 0x20; {
		case c >= '0' && c <= '9':
			digit = int64(c - '0')
		case lower >= 'a' && lower <= 'f':
			digit = int64(lower-'a') + 10
		}
		if digit >= base {
			return 0, false
		}
		n = n*base + digit
	}
	return n, true
}
