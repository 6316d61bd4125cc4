package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nvr-project/nvr/recorder"
	"github.com/nvr-project/nvr/storage"
)

// Latency summarises the calls to one slow operation (fsync, an index
// commit): where a recorder's writer goroutine can wait for longer than
// its queue lasts.
type Latency struct {
	Calls  int     `json:"calls"`
	TotalS float64 `json:"total_s"`
	MaxS   float64 `json:"max_s"`
	// Over1s counts calls that took a second or more: the queue holds
	// about 4 s of video, so a few of those in a row drop frames.
	Over1s int `json:"over_1s"`
}

// latency collects a Latency from many goroutines.
type latency struct {
	mu sync.Mutex
	l  Latency
}

func (l *latency) observe(start time.Time) {
	d := time.Since(start)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l.Calls++
	l.l.TotalS += d.Seconds()
	l.l.MaxS = max(l.l.MaxS, d.Seconds())
	if d >= time.Second {
		l.l.Over1s++
	}
}

func (l *latency) get() Latency {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.l
}

// probes time the recorder's blocking calls through its injectable
// dependencies (Deps.Store and the segment files it hands out), so a run
// that drops frames shows whether the writer waited on the disk or the
// index.
type probes struct {
	create, update, finish, sync latency

	start  time.Time
	mu     sync.Mutex
	errors []string // the first maxProbeErrors failures, in order
}

// maxProbeErrors bounds the failures kept: the first ones explain a
// cascade, the rest repeat them.
const maxProbeErrors = 20

// fail notes a failed call with when it started (since the run began) and
// how long it took.
func (p *probes) fail(op string, began time.Time, err error) {
	if err == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errors) < maxProbeErrors {
		p.errors = append(p.errors, fmt.Sprintf("t=%.1fs %s took %.0f ms: %v",
			began.Sub(p.start).Seconds(), op, time.Since(began).Seconds()*1e3, err))
	}
}

// Waits is the probes' report.
type Waits struct {
	CreateSegment Latency `json:"create_segment"`
	UpdateSegment Latency `json:"update_segment"`
	FinishSegment Latency `json:"finish_segment"`
	// Sync is a segment file's fsync (with its directory's, the first
	// time).
	Sync Latency `json:"sync"`
	// Errors are the first failures of these calls, in order.
	Errors []string `json:"errors,omitempty"`
}

func (p *probes) report() Waits {
	return Waits{
		CreateSegment: p.create.get(), UpdateSegment: p.update.get(), FinishSegment: p.finish.get(),
		Sync:   p.sync.get(),
		Errors: append([]string(nil), p.errors...),
	}
}

// wrap makes deps time every call to the index and to fsync; the rest
// stays as the fleet set it.
func (p *probes) wrap(deps *recorder.Deps) {
	deps.Store = &timedStore{s: deps.Store, p: p}
}

// timedStore is a recorder.SegmentStore that times each call, and those
// of the segment files it creates.
type timedStore struct {
	s recorder.SegmentStore
	p *probes
}

func (t *timedStore) CreateSegment(ctx context.Context, seg storage.Segment) (recorder.SegmentFile, error) {
	began := time.Now()
	f, err := t.s.CreateSegment(ctx, seg)
	t.p.create.observe(began)
	t.p.fail("CreateSegment "+seg.Camera, began, err)
	if err != nil {
		return nil, err
	}
	return timedFile{f, t.p, seg.Camera}, nil
}

// timedFile is a segment file whose syncs and row writes are timed.
type timedFile struct {
	recorder.SegmentFile
	p      *probes
	camera string
}

func (f timedFile) Sync() error {
	began := time.Now()
	err := f.SegmentFile.Sync()
	f.p.sync.observe(began)
	f.p.fail("fsync "+f.camera, began, err)
	return err
}

func (f timedFile) Update(ctx context.Context, seg storage.Segment) error {
	began := time.Now()
	err := f.SegmentFile.Update(ctx, seg)
	f.p.update.observe(began)
	f.p.fail("UpdateSegment "+f.camera, began, err)
	return err
}

func (f timedFile) Finish(ctx context.Context, seg storage.Segment) error {
	began := time.Now()
	err := f.SegmentFile.Finish(ctx, seg)
	f.p.finish.observe(began)
	f.p.fail("FinishSegment "+f.camera, began, err)
	return err
}

// Machine is what the rest of the machine did during a run.
type Machine struct {
	// From /proc/stat over the run, in percent of all CPUs' time.
	BusyPct  float64 `json:"busy_pct"`  // user+nice+system+irq+softirq
	StealPct float64 `json:"steal_pct"` // taken by the hypervisor
	IdlePct  float64 `json:"idle_pct"`  // idle+iowait
	// From /proc/self/task/*/schedstat: the process's threads' time on a
	// CPU and waiting in a run queue for one (a starved process waits).
	RunS  float64 `json:"run_s"`
	WaitS float64 `json:"wait_s"`
}

// cpuStat is the first line of /proc/stat in clock ticks.
type cpuStat struct{ busy, idle, steal, total uint64 }

// readCPUStat parses the aggregate "cpu" line of /proc/stat (proc(5)).
func readCPUStat() (cpuStat, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuStat{}, err
	}
	return parseCPUStat(string(b))
}

func parseCPUStat(s string) (cpuStat, error) {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuStat{}, fmt.Errorf("loadtest: /proc/stat: unexpected first line %q", line)
	}
	var v [8]uint64 // user nice system idle iowait irq softirq steal
	for i := range v {
		n, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return cpuStat{}, fmt.Errorf("loadtest: /proc/stat: field %d: %w", i+1, err)
		}
		v[i] = n
	}
	st := cpuStat{
		busy:  v[0] + v[1] + v[2] + v[5] + v[6],
		idle:  v[3] + v[4],
		steal: v[7],
	}
	st.total = st.busy + st.idle + st.steal
	return st, nil
}

// readSchedstat sums run and wait nanoseconds over the process's threads
// (/proc/self/task/*/schedstat: "run_ns wait_ns timeslices"). Threads
// that exited are missing; the Go runtime rarely ends a thread.
func readSchedstat() (run, wait time.Duration) {
	paths, _ := filepath.Glob("/proc/self/task/*/schedstat")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		r, w, ok := parseSchedstat(string(b))
		if ok {
			run += r
			wait += w
		}
	}
	return run, wait
}

func parseSchedstat(s string) (run, wait time.Duration, ok bool) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return 0, 0, false
	}
	r, err1 := strconv.ParseInt(f[0], 10, 64)
	w, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || r < 0 || w < 0 {
		return 0, 0, false
	}
	return time.Duration(r), time.Duration(w), true
}

// machineProbe measures Machine between start and stop.
type machineProbe struct {
	stat0      cpuStat
	statErr    error
	run0, wai0 time.Duration
}

func startMachineProbe() *machineProbe {
	m := &machineProbe{}
	m.stat0, m.statErr = readCPUStat()
	m.run0, m.wai0 = readSchedstat()
	return m
}

func (m *machineProbe) stop() Machine {
	var out Machine
	run, wait := readSchedstat()
	out.RunS, out.WaitS = (run - m.run0).Seconds(), (wait - m.wai0).Seconds()
	st, err := readCPUStat()
	if err != nil || m.statErr != nil || st.total <= m.stat0.total {
		return out
	}
	total := float64(st.total - m.stat0.total)
	out.BusyPct = 100 * float64(st.busy-m.stat0.busy) / total
	out.IdlePct = 100 * float64(st.idle-m.stat0.idle) / total
	out.StealPct = 100 * float64(st.steal-m.stat0.steal) / total
	return out
}
