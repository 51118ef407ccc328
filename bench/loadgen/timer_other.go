//go:build !linux

package main

import "time"

// ticker elsewhere than Linux: Go's timers, which the runtime may serve up to ~1 ms late when the process
// is idle. The benchmark harness runs on Linux; this only keeps the tool building elsewhere.
type ticker struct {
	now          func() int64
	next, period int64
}

func newTicker(now func() int64, first, period int64) (*ticker, error) {
	return &ticker{now: now, next: first, period: period}, nil
}

func (t *ticker) wait() error {
	now := t.now()
	if now < t.next {
		time.Sleep(time.Duration(t.next - now))
	}
	for t.next <= t.now() {
		t.next += t.period
	}
	return nil
}

func (t *ticker) close() {}

const timerKind = "go timer"
