package timing

import (
	"reflect"
	"testing"
	"time"
)

func TestUnionLength(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	iv := func(a, b float64) Interval { return Interval{at(a), at(b)} }
	cases := []struct {
		name string
		in   []Interval
		want time.Duration
	}{
		{"none", nil, 0},
		{"one", []Interval{iv(1, 3)}, 2 * time.Second},
		{"disjoint", []Interval{iv(5, 6), iv(1, 3)}, 3 * time.Second},
		{"overlapping", []Interval{iv(1, 4), iv(2, 6)}, 5 * time.Second},
		{"nested", []Interval{iv(1, 10), iv(2, 3), iv(4, 5)}, 9 * time.Second},
		{"touching", []Interval{iv(1, 2), iv(2, 3)}, 2 * time.Second},
		{"chain out of order", []Interval{iv(7, 9), iv(1, 3), iv(2, 8)}, 8 * time.Second},
		{"empty interval", []Interval{iv(2, 2), iv(4, 5)}, time.Second},
	}
	for _, c := range cases {
		if got := UnionLength(c.in); got != c.want {
			t.Errorf("%s: UnionLength = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRecorderSummarize(t *testing.T) {
	t0 := time.Now()
	s := func(a int) time.Time { return t0.Add(time.Duration(a) * time.Second) }
	var r Recorder
	r.Add(API, s(0), s(4))
	r.Add(API, s(3), s(5))    // overlaps the first: API busy 5 s
	r.Add(Remote, s(4), s(8)) // overlaps API by 1 s: remote 4 s, union 8 s
	r.Add(Remote, s(9), s(8)) // reversed: ignored
	got := r.Summarize(10 * time.Second)
	want := Summary{Wall: 10, APIWait: 5, Remote: 4, Overhead: 2}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Summarize = %+v, want %+v", got, want)
	}
	var nilRec *Recorder
	nilRec.Add(API, s(0), s(1))
	if got := nilRec.Summarize(time.Second); got.Overhead != 1 || got.APIWait != 0 {
		t.Fatalf("nil recorder: %+v", got)
	}
}

// TestOverlapping: steps that ran at once are reported in pairs with the
// time they shared, and the time saved is what running them one after the
// other would have added.
func TestOverlapping(t *testing.T) {
	t0 := time.Now()
	at := func(a, b int) Interval {
		return Interval{t0.Add(time.Duration(a) * time.Second), t0.Add(time.Duration(b) * time.Second)}
	}
	names := []string{"snapshot", "delete", "transfer", "boot test", "release"}
	spans := []Interval{at(0, 60), at(60, 64), at(60, 180), at(61, 150), at(180, 181)}
	got, saved := Overlapping(names, spans)
	want := []Overlap{
		{[2]string{"delete", "transfer"}, 4},
		{[2]string{"delete", "boot test"}, 3},
		{[2]string{"transfer", "boot test"}, 89},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("overlaps %+v, want %+v", got, want)
	}
	// 60+4+120+89+1 = 274 s of steps in 181 s.
	if saved != 93*time.Second {
		t.Errorf("saved %s, want 1m33s", saved)
	}
}
