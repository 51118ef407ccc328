//go:build linux

package main

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// ticker wakes the dispatcher at every scheduled time, with nanosecond resolution.
//
// Go's own timers are no good for this: when the process is idle the runtime waits for them in
// epoll_wait, whose timeout is in whole milliseconds (runtime/netpoll_epoll.go), so time.Sleep(200µs)
// returns after ~0.9 ms. A timerfd is a kernel hrtimer that the netpoller waits on like a socket: the
// goroutine parks in the runtime's poller, so the other goroutines keep the one P (GOMAXPROCS=1 when
// pinned to one cpu), and it wakes when the kernel fires (~20 µs late on the benchmark VM).
//
// The timer is periodic, armed once: re-arming it at every request (timerfd_settime) cost half of the
// generator's CPU at 40,000 req/s on a VM, where reprogramming the timer hardware traps to the hypervisor.
// Each read of an expired periodic timer re-arms it too, hence ticks no closer than minTick (loadgen.go).
type ticker struct {
	file *os.File
	buf  [8]byte
}

type itimerspec struct{ interval, value syscall.Timespec }

const (
	clockMonotonic = 1
	timerAbstime   = 1
)

// newTicker fires at first, first+period, first+2·period ... on the generator's clock (now).
func newTicker(now func() int64, first, period int64) (*ticker, error) {
	fd, _, e := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic,
		syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if e != 0 {
		return nil, fmt.Errorf("timerfd_create: %w", e)
	}
	// A non-blocking descriptor becomes a pollable *os.File: Read parks the goroutine in the netpoller.
	t := &ticker{file: os.NewFile(fd, "timerfd")}
	// Go's monotonic clock is CLOCK_MONOTONIC with another origin: learn the offset.
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic,
		uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		t.close()
		return nil, fmt.Errorf("clock_gettime: %w", e)
	}
	abs := first + ts.Nano() - now()
	spec := itimerspec{
		interval: syscall.Timespec{Sec: period / 1e9, Nsec: period % 1e9},
		value:    syscall.Timespec{Sec: abs / 1e9, Nsec: abs % 1e9},
	}
	if _, _, e := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, fd, timerAbstime,
		uintptr(unsafe.Pointer(&spec)), 0, 0, 0); e != 0 {
		t.close()
		return nil, fmt.Errorf("timerfd_settime: %w", e)
	}
	return t, nil
}

// wait returns at the next tick, or at once when one has passed since the last call.
func (t *ticker) wait() error {
	_, err := t.file.Read(t.buf[:])
	return err
}

func (t *ticker) close() { t.file.Close() }

const timerKind = "timerfd"
