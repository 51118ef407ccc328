package main

import (
	"io"
	"net"
	"syscall"
)

// socket is the TCP connection under crypto/tls, with one change to how a read waits, which saves a
// read system call per request (Go's runtime reads first and waits for readiness only after EAGAIN;
// between two responses the socket is always empty, so that first read always fails).
//
// The runtime's poller is edge-triggered and forgets earlier readiness at the start of each read
// (poll.FD.RawRead → prepareRead), so waiting without reading first is safe only when nothing can have
// arrived unread: the last read emptied the socket, and the next request is sent after that reset. Hence
// beforeWait: the connection's "I am free" step (send the next due request, or join the idle stack for
// the dispatcher to send one) runs inside the read, after the reset, and only then does it wait.
type socket struct {
	*net.TCPConn
	raw syscall.RawConn
	// drained: the last read returned less than asked, so the kernel held nothing more.
	drained bool
	// beforeWait runs once, at the start of the next read; set after each complete response.
	beforeWait func() error
	// The read in progress, in fields so that the callback (bound once) allocates nothing.
	buf    []byte
	n      int
	err    error
	readFn func(fd uintptr) bool
}

func newSocket(c *net.TCPConn) (*socket, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &socket{TCPConn: c, raw: raw}
	s.readFn = s.readFd
	return s, nil
}

func (s *socket) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	s.buf, s.n, s.err = b, 0, nil
	rerr := s.raw.Read(s.readFn)
	s.buf = nil
	switch {
	case rerr != nil:
		return 0, rerr
	case s.err != nil:
		return 0, s.err
	case s.n == 0:
		return 0, io.EOF
	}
	s.drained = s.n < len(b)
	return s.n, nil
}

// readFd is called by RawConn.Read after the readiness reset, and again after each wait; true: done.
func (s *socket) readFd(fd uintptr) bool {
	if hook := s.beforeWait; hook != nil {
		s.beforeWait = nil
		if s.err = hook(); s.err != nil {
			return true
		}
		if s.drained {
			return false // wait for readiness, then come back here to read
		}
	}
	for {
		s.n, s.err = syscall.Read(int(fd), s.buf)
		if s.err != syscall.EINTR {
			return s.err != syscall.EAGAIN
		}
	}
}
