// tollgate-loadgen: a constant-rate, open-loop HTTP/1.1 load generator over TLS keep-alive connections,
// like wrk2, with the command line and the one-line JSON result of bench/lib/open-loop.ts (which it
// replaces in the benchmark when Go is installed: that one's own timer lag is in the milliseconds).
//
// Request k is due at t0 + k/rate whatever the server does, and its latency counts from that scheduled
// time, so a stall shows in every request that should have gone out meanwhile (no coordinated omission).
// A connection carries one request at a time, as the kube-apiserver's do; a request due while every
// connection is busy waits in a FIFO, and the wait counts.
//
//	tollgate-loadgen --host 127.0.0.1 --port N --path /validate --body FILE --rate 5000 \
//	  --connections 25 --duration 10 --warmup 2 [--ca cert.pem] [--timeout 5]
//
// HTTP/1.1 is written and parsed by hand (response.go), not with net/http, whose per-request goroutines,
// allocations and header maps would cost more than the server being measured.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
)

func main() {
	var o Options
	var body, ca string
	flag.StringVar(&o.Host, "host", "127.0.0.1", "server address")
	flag.IntVar(&o.Port, "port", 0, "server port (required)")
	flag.StringVar(&o.Path, "path", "/validate", "request path")
	flag.StringVar(&body, "body", "", "file with the request body, sent as application/json (required)")
	flag.Float64Var(&o.Rate, "rate", 0, "requests per second (required)")
	flag.IntVar(&o.Connections, "connections", 25, "keep-alive TLS connections, one request at a time each")
	flag.Float64Var(&o.DurationS, "duration", 10, "measured seconds")
	flag.Float64Var(&o.WarmupS, "warmup", 1, "seconds at the same rate before, not measured")
	flag.StringVar(&ca, "ca", "", "PEM certificate to verify the server with (default: no verification)")
	flag.Float64Var(&o.TimeoutS, "timeout", 5, "seconds to let queued and in-flight requests finish")
	flag.Parse()
	if o.Port == 0 || body == "" || o.Rate == 0 {
		fail(fmt.Errorf("--port, --body and --rate are required"))
	}
	var err error
	if o.Body, err = os.ReadFile(body); err != nil {
		fail(err)
	}
	if ca != "" {
		if o.CA, err = os.ReadFile(ca); err != nil {
			fail(err)
		}
	}
	// The runtime sizes GOMAXPROCS from the CPUs the process may run on (taskset's affinity mask):
	// one when the harness pins the generator to one core. The collector stays off unless the heap nears
	// 1 GB: what a request allocates (crypto/tls) is small, and a GC cycle would be the generator's own stall.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(-1)
		if os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(1 << 30)
		}
	}
	g, err := newGenerator(o)
	if err != nil {
		fail(err)
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := g.run()
	if err != nil {
		fail(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	sent := max(1, g.nextSend)
	fmt.Fprintf(os.Stderr, "tollgate-loadgen: GOMAXPROCS %d (cpus allowed %d), %s wake-ups, own lag p50 %.3f ms, "+
		"%d GC cycles, %.1f allocations per request\n", runtime.GOMAXPROCS(0), runtime.NumCPU(), timerKind,
		float64(g.lag.Percentile(50))/1e6, after.NumGC-before.NumGC, float64(after.Mallocs-before.Mallocs)/float64(sent))
	line, _ := json.Marshal(r)
	os.Stdout.Write(append(line, '\n'))
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "tollgate-loadgen: %v\n", err)
	os.Exit(1)
}
