package main

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

type parsed struct {
	status    int
	keepAlive bool
}

// readAll parses every response in the stream, delivered in pieces of at most `piece` bytes.
func readAll(t *testing.T, stream string, piece int) ([]parsed, error) {
	t.Helper()
	var src io.Reader = strings.NewReader(stream)
	if piece > 0 {
		src = &chunkReader{data: []byte(stream), n: piece}
	}
	p := newResponseReader(src)
	var out []parsed
	for {
		status, keepAlive, err := p.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		out = append(out, parsed{status, keepAlive})
		if !keepAlive {
			return out, nil
		}
	}
}

// chunkReader returns at most n bytes per Read, as a TLS connection returns one record at a time.
type chunkReader struct {
	data []byte
	n    int
}

func (c *chunkReader) Read(b []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := copy(b[:min(len(b), c.n)], c.data)
	c.data = c.data[k:]
	return k, nil
}

const admission = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u","allowed":true}}`

var uwsResponse = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Fri, 04 Dec 2026 22:00:00 GMT\r\n" +
	"uWebSockets: 20\r\nContent-Length: " + strconv.Itoa(len(admission)) + "\r\n\r\n" + admission

func TestResponses(t *testing.T) {
	chunked := "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" +
		"1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n" + "A \r\n0123456789\r\n" + "4\r\n\r\n\r\n\r\n" + "0\r\nX-Trailer: yes\r\n\r\n"
	cases := []struct {
		name   string
		stream string
		want   []parsed
	}{
		{"content-length, as uWebSockets.js answers", uwsResponse, []parsed{{200, true}}},
		{"three pipelined on one stream", uwsResponse + uwsResponse + uwsResponse,
			[]parsed{{200, true}, {200, true}, {200, true}}},
		{"chunked with extension, CRLFs in the data and a trailer, then another",
			chunked + uwsResponse, []parsed{{200, true}, {200, true}}},
		{"Transfer-Encoding wins over Content-Length",
			"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n" +
				uwsResponse, []parsed{{200, true}, {200, true}}},
		{"status codes and an empty body",
			"HTTP/1.1 400 Bad Request\r\ncontent-length: 10\r\n\r\nempty body" +
				"HTTP/1.1 204 No Content\r\n\r\n" + "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
			[]parsed{{400, true}, {204, true}, {503, true}}},
		{"100 Continue before the answer", "HTTP/1.1 100 Continue\r\n\r\n" + uwsResponse, []parsed{{200, true}}},
		{"Connection: close", "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok",
			[]parsed{{200, false}}},
		{"HTTP/1.0 closes unless keep-alive",
			"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok" +
				"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", []parsed{{200, true}, {200, false}}},
		{"no length: the body runs to the close", "HTTP/1.1 200 OK\r\n\r\nall of this, until EOF",
			[]parsed{{200, false}}},
		{"a status line without a reason phrase", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", []parsed{{200, true}}},
	}
	for _, c := range cases {
		for _, piece := range []int{0, 1, 2, 3, 7, 64} {
			got, err := readAll(t, c.stream, piece)
			if err != nil {
				t.Errorf("%s (pieces of %d): %v", c.name, piece, err)
				continue
			}
			if len(got) != len(c.want) {
				t.Errorf("%s (pieces of %d): got %v, want %v", c.name, piece, got, c.want)
				continue
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("%s (pieces of %d): response %d is %v, want %v", c.name, piece, i, got[i], c.want[i])
				}
			}
		}
	}
}

func TestResponseErrors(t *testing.T) {
	cases := []struct {
		name   string
		stream string
		want   error
	}{
		{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", io.ErrUnexpectedEOF},
		{"truncated head", "HTTP/1.1 200 OK\r\nContent-Len", io.ErrUnexpectedEOF},
		{"truncated chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc", io.ErrUnexpectedEOF},
		{"not HTTP", "SSH-2.0-OpenSSH_9.6\r\n\r\n", errMalformed},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", errMalformed},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", errMalformed},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", errMalformed},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", errMalformed},
		{"chunk longer than announced", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n",
			errMalformed},
		{"header line without a colon", "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", errMalformed},
		{"head over 64 KB", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", errHeadTooLarge},
	}
	for _, c := range cases {
		for _, piece := range []int{0, 1, 5} {
			if piece == 1 && len(c.stream) > 1000 {
				continue
			}
			_, err := readAll(t, c.stream, piece)
			if !errors.Is(err, c.want) {
				t.Errorf("%s (pieces of %d): error %v, want %v", c.name, piece, err, c.want)
			}
		}
	}
}

func TestResponseReaderReadErrors(t *testing.T) {
	// A connection error in the middle of a response is returned as it is.
	boom := errors.New("connection reset")
	src := io.MultiReader(strings.NewReader(uwsResponse[:40]), iotest.ErrReader(boom))
	_, _, err := newResponseReader(src).next()
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
}

func TestResponseReaderDoesNotAllocate(t *testing.T) {
	stream := bytes.Repeat([]byte(uwsResponse), 1000)
	src := bytes.NewReader(stream)
	p := newResponseReader(src)
	allocs := testing.AllocsPerRun(999, func() {
		if _, _, err := p.next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per response", allocs)
	}
}
