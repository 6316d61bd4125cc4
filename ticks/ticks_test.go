package ticks

import (
	"math"
	"math/big"
	"testing"
	"time"
)

// exactNS is the reference: ticks*1e9/90000 in arbitrary precision,
// truncated toward zero, or ok=false when it does not fit in int64.
func exactNS(t int64) (int64, bool) {
	v := new(big.Int).Mul(big.NewInt(t), big.NewInt(1e9))
	v.Quo(v, big.NewInt(PerSecond))
	return v.Int64(), v.IsInt64()
}

func exactTicks(ns int64) int64 {
	v := new(big.Int).Mul(big.NewInt(ns), big.NewInt(PerSecond))
	return v.Quo(v, big.NewInt(1e9)).Int64()
}

// edges are the tick counts where a formula breaks: zero, one tick, the
// remainders of 9, the naive formula's overflow (~28 h), the last count
// whose result fits, and the ends of int64.
var edges = []int64{
	0, 1, 2, 8, 9, 10, 89999, 90000, 90001,
	3000, 7200 * PerSecond, 28 * 3600 * PerSecond, math.MaxInt64 / 1_000_000_000, math.MaxInt64/1_000_000_000 + 1,
	830103483316775 - 1, 830103483316775, 830103483316775 + 1, // around MaxInt64*9/100000
	math.MaxInt64 / 9, math.MaxInt64 - 1, math.MaxInt64,
}

func TestToNSEdges(t *testing.T) {
	for _, e := range edges {
		for _, tk := range []int64{e, -e, math.MinInt64} {
			want, fits := exactNS(tk)
			got := ToNS(tk)
			switch {
			case fits && got != want:
				t.Errorf("ToNS(%d) = %d, want %d", tk, got, want)
			case !fits && tk > 0 && got != math.MaxInt64:
				t.Errorf("ToNS(%d) = %d, want saturation at MaxInt64", tk, got)
			case !fits && tk < 0 && got != math.MinInt64:
				t.Errorf("ToNS(%d) = %d, want saturation at MinInt64", tk, got)
			}
		}
	}
}

func TestToNSKnown(t *testing.T) {
	for _, c := range []struct {
		ticks int64
		want  time.Duration
	}{
		{PerSecond, time.Second},
		{3000, time.Second / 30},
		{1, 11111 * time.Nanosecond},
		{7200 * PerSecond, 2 * time.Hour},
		{30 * 3600 * PerSecond, 30 * time.Hour}, // past the naive formula's overflow
	} {
		if got := Duration(c.ticks); got != c.want {
			t.Errorf("Duration(%d) = %v, want %v", c.ticks, got, c.want)
		}
	}
}

func TestFromNSEdges(t *testing.T) {
	for _, ns := range []int64{0, 1, 11111, 11112, 99999, 100000, 100001, int64(time.Second), int64(time.Hour),
		math.MaxInt64 / PerSecond, math.MaxInt64/PerSecond + 1, math.MaxInt64 - 1, math.MaxInt64} {
		for _, v := range []int64{ns, -ns} {
			if got, want := FromNS(v), exactTicks(v); got != want {
				t.Errorf("FromNS(%d) = %d, want %d", v, got, want)
			}
		}
	}
	if got, want := FromNS(math.MinInt64), exactTicks(math.MinInt64); got != want {
		t.Errorf("FromNS(MinInt64) = %d, want %d", got, want)
	}
	if got := FromDuration(time.Minute); got != 60*PerSecond {
		t.Errorf("FromDuration(1m) = %d", got)
	}
}

// ticksCases came with the recorder's copy of the conversion.
var ticksCases = []int64{0, 1, 8, 9, 3000, 3600, 90000, -1, -3600, 9_300_000_000 /* past the naive overflow */, 1 << 40, math.MaxInt64 / 11112}

func TestTicksToNS(t *testing.T) {
	for _, ticks := range ticksCases {
		want, ok := exactNS(ticks)
		if !ok {
			t.Fatalf("case %d out of range", ticks)
		}
		if got := ToNS(ticks); got != want {
			t.Errorf("ToNS(%d) = %d, want %d", ticks, got, want)
		}
	}
	// The naive formula really does overflow at the case above: the test
	// would prove nothing otherwise.
	if n := int64(9_300_000_000); n*int64(time.Second)/PerSecond == ToNS(n) {
		t.Error("naive conversion did not overflow; pick a larger case")
	}
}

func FuzzTicksToNS(f *testing.F) {
	for _, c := range append(ticksCases, edges...) {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, ticks int64) {
		if got, want := FromNS(ticks), exactTicks(ticks); got != want {
			t.Fatalf("FromNS(%d) = %d, want %d", ticks, got, want)
		}
		want, ok := exactNS(ticks)
		got := ToNS(ticks)
		if !ok {
			if (ticks > 0 && got != math.MaxInt64) || (ticks < 0 && got != math.MinInt64) {
				t.Fatalf("ToNS(%d) = %d: not saturated", ticks, got)
			}
			return
		}
		if got != want {
			t.Fatalf("ToNS(%d) = %d, want %d", ticks, got, want)
		}
		if ticks >= 0 && ticks < math.MaxInt64/100000 {
			// ToNS rounds down to whole nanoseconds, so the way back
			// may lose one tick, and none when the conversion was exact.
			back := FromNS(want)
			if back != ticks && (back != ticks-1 || ticks%9 == 0) {
				t.Fatalf("FromNS(ToNS(%d)) = %d", ticks, back)
			}
		}
	})
}

func TestFromTimescale(t *testing.T) {
	for _, ts := range []uint32{0, 1, 1000, 25, 30000, PerSecond, 1e9, math.MaxUint32} {
		for _, e := range append(edges, 59, 1001, 123456789) {
			for _, d := range []int64{e, -e} {
				got := FromTimescale(d, ts)
				if ts == 0 || ts == PerSecond {
					if got != d {
						t.Errorf("FromTimescale(%d, %d) = %d, want it unchanged", d, ts, got)
					}
					continue
				}
				v := new(big.Int).Mul(big.NewInt(d), big.NewInt(PerSecond))
				v.Quo(v, big.NewInt(int64(ts)))
				switch {
				case v.IsInt64() && got != v.Int64():
					t.Errorf("FromTimescale(%d, %d) = %d, want %d", d, ts, got, v.Int64())
				case !v.IsInt64() && (d > 0) != (got == math.MaxInt64):
					t.Errorf("FromTimescale(%d, %d) = %d: not saturated", d, ts, got)
				}
			}
		}
	}
}
