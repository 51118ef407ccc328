package main

import "math/bits"

// Histogram counts int64 values (nanoseconds here) in log-linear buckets, the HdrHistogram layout:
// values below 2^(subBits+1) are counted exactly; above that, each power of two [2^n, 2^(n+1)) is cut
// into 2^subBits equal buckets. A bucket is at most 1/2^subBits of its lowest value wide, so with
// subBits = 7 any value read back is within 1/128 (0.78 %) of the value recorded. The whole int64
// range fits in 7,296 counters (57 KB), so recording never allocates and never saturates.
type Histogram struct {
	counts   [bucketCount]uint64
	total    uint64
	sum      uint64
	min, max int64
}

const (
	subBits     = 7
	bucketCount = (64 - subBits) << subBits
)

func bucketOf(v int64) int {
	shift := bits.Len64(uint64(v)) - (subBits + 1)
	if shift < 0 {
		shift = 0
	}
	return shift<<subBits + int(uint64(v)>>uint(shift))
}

// bucketRange is the lowest and highest value that share bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < 2<<subBits {
		return int64(i), int64(i)
	}
	shift := i>>subBits - 1
	mantissa := int64(i - shift<<subBits)
	lo = mantissa << uint(shift)
	return lo, lo + 1<<uint(shift) - 1
}

// Record counts one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += uint64(v)
}

func (h *Histogram) Count() uint64 { return h.total }
func (h *Histogram) Max() int64    { return h.max }

func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	return float64(h.sum) / float64(h.total)
}

// Percentile is the value at or below which p % of the recorded values fall, read as the highest value
// of its bucket (as HdrHistogram does, so a percentile is never understated), capped at the maximum.
func (h *Histogram) Percentile(p float64) int64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(p / 100 * float64(h.total))
	if float64(rank) < p/100*float64(h.total) {
		rank++
	}
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i]
		if seen >= rank {
			_, hi := bucketRange(i)
			return min(hi, h.max)
		}
	}
	return h.max
}

// Merge adds every value of o.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.sum += o.sum
}
