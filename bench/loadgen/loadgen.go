package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync"
	"time"
)

// Options are the command-line options, the same as bench/lib/open-loop.ts.
type Options struct {
	Host        string
	Port        int
	Path        string
	Body        []byte
	Rate        float64 // requests per second
	Connections int
	DurationS   float64
	WarmupS     float64
	CA          []byte // PEM; nil: do not verify the server
	TimeoutS    float64
}

// Result is the one JSON line, the shape of OpenLoopResult in bench/lib/open-loop.ts.
type Result struct {
	Rate              float64   `json:"rate"`
	Connections       int       `json:"connections"`
	DurationS         float64   `json:"durationS"`
	Scheduled         int64     `json:"scheduled"`
	Completed         int64     `json:"completed"`
	Errors            int64     `json:"errors"`
	Non2xx            int64     `json:"non2xx"`
	Unsent            int64     `json:"unsent"`
	AchievedRps       int64     `json:"achievedRps"`
	LatencyMs         Latencies `json:"latencyMs"`
	GeneratorLagP99Ms float64   `json:"generatorLagP99Ms"`
	Generator         string    `json:"generator"`
}

type Latencies struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// generator runs one open-loop measurement: request k is due at t0 + k/rate whatever the server does.
//
// Requests are not objects: since they are sent in the order of their schedule, the FIFO of requests that
// are due but wait for a connection is the index range [nextSend, nextDue). The dispatcher wakes at each
// due time (at most every minTick), moves nextDue forward and hands due requests to idle connections; a
// connection that gets its answer takes the oldest waiting request itself, or goes back to the idle stack,
// and hands what else is due to idle connections too.
type generator struct {
	o        Options
	request  []byte
	clock    func() int64
	t0       int64
	interval int64 // ns between two scheduled requests (whole ns: the rate is off by ≤ 5e-5 up to 100,000/s)
	total    int64 // warm-up and measured requests
	warmup   int64 // requests below this index are not counted

	mu         sync.Mutex
	nextDue    int64 // requests below this index are due
	nextSend   int64 // requests below this index have been sent (or lost)
	idle       []*conn
	busy       int
	stopped    bool
	reconnects int
	dialErrors int64
	stopErrors int64

	lag     Histogram // owned by the dispatcher
	readers sync.WaitGroup
	tcp     *net.Dialer
	tlsCfg  *tls.Config
}

// conn is one keep-alive connection, one request at a time; its goroutine reads the answers.
type conn struct {
	g *generator
	// Guarded by g.mu.
	tls       *tls.Conn
	sock      *socket
	inflight  int64 // index of the request on the wire, -1 when none
	idleSince int64
	// Owned by the connection's goroutine until it has exited.
	latency, lag              Histogram // lag: of the requests it handed to other, idle connections
	completed, errors, non2xx int64
	lastDone                  int64
	free                      func() error // c.becomeFree, bound once
	batch                     []handover
}

const (
	maxReconnects = 10_000
	minTick       = int64(50 * time.Microsecond)
)

func newGenerator(o Options) (*generator, error) {
	if o.Rate <= 0 || o.Connections <= 0 || o.DurationS <= 0 || o.WarmupS < 0 {
		return nil, errors.New("--rate, --connections and --duration must be positive")
	}
	cfg := &tls.Config{
		ServerName: "localhost",
		NextProtos: []string{"http/1.1"},
		// One request fits one TLS record from the first one: without this, crypto/tls sends small records
		// for the first 128 KB of each connection, hence several write calls per request.
		DynamicRecordSizingDisabled: true,
	}
	if o.CA != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(o.CA) {
			return nil, errors.New("--ca: no PEM certificate in the file")
		}
		cfg.RootCAs = pool
	} else {
		cfg.InsecureSkipVerify = true
	}
	base := time.Now()
	head := "POST " + o.Path + "?timeout=10s HTTP/1.1\r\nHost: " + net.JoinHostPort(o.Host, strconv.Itoa(o.Port)) +
		"\r\nContent-Type: application/json\r\nAccept: application/json, */*\r\nUser-Agent: tollgate-loadgen\r\n" +
		"Content-Length: " + strconv.Itoa(len(o.Body)) + "\r\n\r\n"
	timeout := time.Duration(max(o.TimeoutS, 1) * float64(time.Second))
	return &generator{
		o:        o,
		request:  append([]byte(head), o.Body...),
		clock:    func() int64 { return int64(time.Since(base)) }, // monotonic, one vDSO call
		interval: max(1, int64(math.Round(1e9/o.Rate))),
		total:    int64(math.Round(o.Rate * (o.WarmupS + o.DurationS))),
		warmup:   int64(math.Round(o.Rate * o.WarmupS)),
		tcp:      &net.Dialer{Timeout: timeout},
		tlsCfg:   cfg,
	}, nil
}

func (g *generator) due(k int64) int64 { return g.t0 + k*g.interval }

// advanceLocked makes every request scheduled at or before now due.
func (g *generator) advanceLocked(now int64) {
	for g.nextDue < g.total && g.due(g.nextDue) <= now {
		g.nextDue++
	}
}

func (g *generator) dial() (*tls.Conn, *socket, error) {
	c, err := g.tcp.Dial("tcp", net.JoinHostPort(g.o.Host, strconv.Itoa(g.o.Port)))
	if err != nil {
		return nil, nil, err
	}
	s, err := newSocket(c.(*net.TCPConn))
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	t := tls.Client(s, g.tlsCfg)
	ctx, cancel := context.WithTimeout(context.Background(), g.tcp.Timeout)
	defer cancel()
	if err := t.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, nil, err
	}
	return t, s, nil
}

func (g *generator) run() (Result, error) {
	// Connect everything before the schedule starts.
	conns := make([]*conn, g.o.Connections)
	errs := make(chan error, len(conns))
	for i := range conns {
		c := &conn{g: g, inflight: -1}
		c.free = c.becomeFree
		conns[i] = c
		go func() {
			t, s, err := g.dial()
			c.tls, c.sock = t, s
			errs <- err
		}()
	}
	var first error
	for range conns {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		for _, c := range conns {
			if c.tls != nil {
				c.tls.NetConn().Close()
			}
		}
		return Result{}, fmt.Errorf("connecting: %w", first)
	}
	// Each reader joins the idle stack from inside its first read (socket.beforeWait): wait for all.
	g.t0 = math.MaxInt64
	for _, c := range conns {
		g.readers.Add(1)
		go c.read()
	}
	for deadline, ready := g.clock()+int64(time.Second), false; !ready && g.clock() < deadline; {
		time.Sleep(100 * time.Microsecond)
		g.mu.Lock()
		ready = len(g.idle) == len(conns)
		g.mu.Unlock()
	}
	g.mu.Lock()
	g.t0 = g.clock() + int64(time.Millisecond)
	g.mu.Unlock()
	// A tick per request up to 20,000 req/s; above, a tick every few requests: a timer wake-up costs ~7 µs
	// of CPU on a VM (the kernel reprograms the timer hardware, which traps to the hypervisor), and at high
	// rates the connections' own wake-ups send most requests anyway.
	tick := g.interval * ((minTick + g.interval - 1) / g.interval)
	timer, err := newTicker(g.clock, g.t0, tick)
	if err != nil {
		g.stop(conns)
		return Result{}, err
	}
	err = g.dispatch(timer)
	timer.close()
	if err != nil {
		g.stop(conns)
		return Result{}, err
	}
	g.drain()
	g.stop(conns)
	return g.result(conns), nil
}

type handover struct {
	c    *conn
	tls  *tls.Conn
	k    int64
	from int64 // when the request could have gone: its due time, or later if no connection was free then
}

// takeIdleLocked hands due requests to idle connections (the caller sends them, outside the lock).
func (g *generator) takeIdleLocked(batch []handover) []handover {
	for g.nextSend < g.nextDue && len(g.idle) > 0 {
		c := g.idle[len(g.idle)-1]
		g.idle = g.idle[:len(g.idle)-1]
		k := g.nextSend
		g.nextSend++
		g.busy++
		c.inflight = k
		batch = append(batch, handover{c: c, tls: c.tls, k: k, from: max(g.due(k), c.idleSince)})
	}
	return batch
}

// send writes the requests handed to idle connections. The generator's own lag is how long each of them,
// due with a connection free, waited for the generator.
func (g *generator) send(batch []handover, lag *Histogram) []handover {
	for _, h := range batch {
		if h.k >= g.warmup {
			lag.Record(g.clock() - h.from)
		}
		if _, err := h.tls.Write(g.request); err != nil {
			h.tls.NetConn().Close() // its reader counts the error and reconnects
		}
	}
	return batch[:0]
}

// dispatch follows the schedule: at each tick, every due request that finds an idle connection is sent
// (a batch when the tick is late); the others wait for a connection to come back. Connections that
// become free between two ticks send what is due too (becomeFree), so at high rates most requests go
// out on the readers' wake-ups and the ticks are only the fallback.
func (g *generator) dispatch(timer *ticker) error {
	batch := make([]handover, 0, g.o.Connections)
	for {
		now := g.clock()
		g.mu.Lock()
		g.advanceLocked(now)
		batch = g.takeIdleLocked(batch)
		done := g.nextDue >= g.total
		g.mu.Unlock()
		batch = g.send(batch, &g.lag)
		if done {
			return nil
		}
		if err := timer.wait(); err != nil {
			return err
		}
	}
}

// drain lets the queued and in-flight requests finish, up to the timeout.
func (g *generator) drain() {
	deadline := g.clock() + int64(g.o.TimeoutS*1e9)
	for g.clock() < deadline {
		g.mu.Lock()
		finished := g.nextSend >= g.total && g.busy == 0
		g.mu.Unlock()
		if finished {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// stop closes every connection; what is still in flight is an error, what is still queued is unsent.
func (g *generator) stop(conns []*conn) {
	g.mu.Lock()
	g.stopped = true
	open := make([]*tls.Conn, 0, len(conns))
	for _, c := range conns {
		if c.inflight >= g.warmup {
			g.stopErrors++
		}
		c.inflight = -1
		if c.tls != nil {
			open = append(open, c.tls)
		}
	}
	g.mu.Unlock()
	// Outside the lock: closing waits for a read in progress, which may be waiting for the lock.
	for _, t := range open {
		t.NetConn().Close()
	}
	g.readers.Wait()
}

// read is a connection's goroutine: it reads answers and records their latency from the scheduled time;
// it reconnects when the connection is lost. Between two answers, the connection becomes free again
// (becomeFree) from inside the read that waits for the next one.
func (c *conn) read() {
	g := c.g
	defer g.readers.Done()
	g.mu.Lock()
	t, s := c.tls, c.sock
	g.mu.Unlock()
	rr := newResponseReader(t)
	for {
		s.beforeWait = c.free
		status, keepAlive, err := rr.next()
		now := g.clock()
		g.mu.Lock()
		if g.stopped {
			g.mu.Unlock()
			return
		}
		k := c.inflight
		c.inflight = -1
		if k >= 0 {
			g.busy--
		} else if err == nil {
			err = errors.New("a response to no request")
		}
		if err != nil || !keepAlive {
			// Lost (or closed by the server after this answer): also when it sat idle, so the dispatcher
			// no longer picks it.
			c.removeIdleLocked()
		}
		g.mu.Unlock()
		if k >= g.warmup {
			if err != nil {
				c.errors++
			} else {
				c.record(k, status, now)
			}
		}
		if err != nil || !keepAlive {
			t.NetConn().Close()
			if t, s = c.reconnect(); t == nil {
				return
			}
			rr = newResponseReader(t)
		}
	}
}

// becomeFree takes the oldest due request (it waited for a connection: not the generator's lag) and sends
// it, or puts the connection on the idle stack; then it sends what else is due on idle connections. It runs
// inside the connection's read (see socket), so it must not close this connection: a failed write is
// returned as the read's error.
func (c *conn) becomeFree() error {
	g := c.g
	now := g.clock()
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return nil
	}
	g.advanceLocked(now)
	var t *tls.Conn
	if g.nextSend < g.nextDue {
		c.inflight = g.nextSend
		g.nextSend++
		g.busy++
		t = c.tls
	} else {
		c.idleSince = now
		g.idle = append(g.idle, c)
	}
	c.batch = g.takeIdleLocked(c.batch)
	g.mu.Unlock()
	var err error
	if t != nil {
		_, err = t.Write(g.request)
	}
	c.batch = g.send(c.batch, &c.lag)
	return err
}

func (c *conn) record(k int64, status int, now int64) {
	c.completed++
	if status < 200 || status > 299 {
		c.non2xx++
	}
	c.latency.Record(now - c.g.due(k))
	c.lastDone = now
}

func (c *conn) removeIdleLocked() {
	for i, x := range c.g.idle {
		if x == c {
			c.g.idle = append(c.g.idle[:i], c.g.idle[i+1:]...)
			return
		}
	}
}

// reconnect replaces a lost connection (so the count stays the same), within a budget so that a dead
// server ends the run instead of spinning; nil when stopped or out of budget.
func (c *conn) reconnect() (*tls.Conn, *socket) {
	g := c.g
	for {
		g.mu.Lock()
		if g.stopped || g.reconnects >= maxReconnects {
			g.mu.Unlock()
			return nil, nil
		}
		g.reconnects++
		g.mu.Unlock()
		t, s, err := g.dial()
		g.mu.Lock()
		if err == nil && !g.stopped {
			c.tls, c.sock = t, s
			g.mu.Unlock()
			return t, s
		}
		if err != nil {
			g.dialErrors++
		}
		g.mu.Unlock()
		if err == nil {
			t.NetConn().Close()
			return nil, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (g *generator) result(conns []*conn) Result {
	var latency Histogram
	r := Result{
		Rate:        g.o.Rate,
		Connections: g.o.Connections,
		DurationS:   g.o.DurationS,
		Scheduled:   g.total - g.warmup,
		Errors:      g.stopErrors + g.dialErrors,
		Unsent:      max(0, g.total-max(g.nextSend, g.warmup)),
		Generator:   "go",
	}
	var lastDone int64
	for _, c := range conns {
		latency.Merge(&c.latency)
		g.lag.Merge(&c.lag)
		r.Completed += c.completed
		r.Errors += c.errors
		r.Non2xx += c.non2xx
		lastDone = max(lastDone, c.lastDone)
	}
	window := float64(lastDone-g.due(g.warmup)) / 1e9
	r.AchievedRps = int64(math.Round(float64(r.Completed) / max(window, g.o.DurationS)))
	ms := func(ns float64) float64 { return math.Round(ns/1e3) / 1e3 }
	r.LatencyMs = Latencies{
		P50:  ms(float64(latency.Percentile(50))),
		P90:  ms(float64(latency.Percentile(90))),
		P99:  ms(float64(latency.Percentile(99))),
		P999: ms(float64(latency.Percentile(99.9))),
		Max:  ms(float64(latency.Max())),
		Mean: ms(latency.Mean()),
	}
	r.GeneratorLagP99Ms = ms(float64(g.lag.Percentile(99)))
	return r
}
