package clock

import (
	"testing"
	"time"
)

func TestFakeClock(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewFake(t0)
	a, b := c.NewTimer(time.Second), c.NewTimer(time.Hour)
	if !b.Stop() || b.Stop() {
		t.Fatal("Stop should report true once")
	}
	c.Step(t0.Add(time.Hour)) // wall step: no timer fires
	select {
	case <-a.C():
		t.Fatal("fired on a wall step")
	default:
	}
	c.Advance(time.Second)
	select {
	case got := <-a.C():
		if !got.Equal(t0.Add(time.Hour + time.Second)) {
			t.Errorf("fired with %v", got)
		}
	default:
		t.Fatal("did not fire")
	}
	if a.Stop() || c.Pending() != 0 {
		t.Fatal("fired timer still pending")
	}
	select {
	case <-c.NewTimer(0).C():
	default:
		t.Fatal("zero timer did not fire at once")
	}
}
