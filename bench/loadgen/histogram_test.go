package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBucketsTileTheRange(t *testing.T) {
	// Every bucket starts right after the previous one ends, up to the largest int64.
	next := int64(0)
	for i := 0; i < bucketCount; i++ {
		lo, hi := bucketRange(i)
		if lo != next || hi < lo {
			t.Fatalf("bucket %d is [%d, %d], want it to start at %d", i, lo, hi, next)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d: bucketOf(%d)=%d, bucketOf(%d)=%d", i, lo, bucketOf(lo), hi, bucketOf(hi))
		}
		next = hi + 1
	}
	if next != math.MinInt64 { // wrapped past MaxInt64: the last bucket ends there
		t.Fatalf("the buckets end at %d, not at MaxInt64", next-1)
	}
}

func TestRelativeErrorBelowOnePercent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		v := int64(math.Exp(r.Float64() * 40)) // 1 ns .. 2.4e17 ns, log-uniform
		lo, hi := bucketRange(bucketOf(v))
		if v < lo || v > hi {
			t.Fatalf("%d is not in its bucket [%d, %d]", v, lo, hi)
		}
		if rel := float64(hi-v) / float64(v); rel > 1.0/128 {
			t.Fatalf("%d reads back as %d: %.3f %% off", v, hi, rel*100)
		}
	}
}

func TestPercentilesAgainstSortedValues(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var h Histogram
	values := make([]int64, 0, 100_001)
	// Latencies in ns: a body around 150 µs and a tail up to 40 ms, like a server under load.
	for range 100_000 {
		v := int64(150_000 * math.Exp(r.NormFloat64()*0.4))
		if r.IntN(100) == 0 {
			v = int64(r.Float64() * 40e6)
		}
		values = append(values, v)
		h.Record(v)
	}
	slices.Sort(values)
	var sum float64
	for _, v := range values {
		sum += float64(v)
	}
	for _, p := range []float64{0.1, 50, 90, 99, 99.9, 100} {
		rank := int(math.Ceil(p / 100 * float64(len(values))))
		exact := values[max(rank, 1)-1]
		got := h.Percentile(p)
		if got < exact || float64(got-exact) > float64(exact)/128 {
			t.Errorf("p%v = %d, exact %d", p, got, exact)
		}
	}
	if h.Max() != values[len(values)-1] || h.Count() != uint64(len(values)) {
		t.Errorf("max %d count %d, want %d and %d", h.Max(), h.Count(), values[len(values)-1], len(values))
	}
	if math.Abs(h.Mean()-sum/float64(len(values))) > 1e-6*h.Mean() {
		t.Errorf("mean %f, want %f", h.Mean(), sum/float64(len(values)))
	}
}

func TestSmallCountsAndEdges(t *testing.T) {
	var h Histogram
	if h.Percentile(99) != 0 || h.Mean() != 0 {
		t.Fatal("an empty histogram reads 0")
	}
	h.Record(-5) // clock steps cannot make a negative latency; it counts as 0
	h.Record(1_000_000)
	if h.Percentile(50) != 0 || h.Percentile(50.1) != 1_000_000 || h.Percentile(100) != 1_000_000 {
		t.Errorf("p50 %d p50.1 %d p100 %d", h.Percentile(50), h.Percentile(50.1), h.Percentile(100))
	}
	// A percentile is never above the largest value recorded, though its bucket reaches further.
	var one Histogram
	one.Record(1_000_001)
	if one.Percentile(99) != 1_000_001 {
		t.Errorf("p99 of one value = %d", one.Percentile(99))
	}
}

func TestMerge(t *testing.T) {
	var a, b, all Histogram
	for v := int64(1); v <= 10_000; v++ {
		all.Record(v * 997)
		if v%3 == 0 {
			a.Record(v * 997)
		} else {
			b.Record(v * 997)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Histogram{})
	if m != all {
		t.Fatal("merging the parts differs from recording the whole")
	}
}
