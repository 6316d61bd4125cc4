package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

const signalHelperEnv = "NVR_TEST_SIGNAL_HELPER"

// signalHelper runs, in a child process, a command that notices the first
// interrupt and then never returns, as a command stuck in a blocking call
// would.
func signalHelper() {
	_ = withSignals(func(ctx context.Context) error {
		fmt.Println("ready")
		<-ctx.Done()
		fmt.Println("interrupted")
		select {}
	})
	os.Exit(0)
}

// Ctrl-C always ends nvr: a second interrupt ends a command that did not
// return after the first.
func TestSecondInterruptEndsNvr(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), signalHelperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 2)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	exited := make(chan error, 1)
	expect := func(want string) {
		t.Helper()
		select {
		case l := <-lines:
			if l != want {
				t.Fatalf("helper said %q, want %q", l, want)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("helper did not say %q", want)
		}
	}
	expect("ready")
	_ = cmd.Process.Signal(os.Interrupt)
	expect("interrupted")
	go func() { exited <- cmd.Wait() }()
	// The default action comes back just after the first signal is
	// handled, on another goroutine: interrupt again until it ends, as a
	// user pressing Ctrl-C a second time would.
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
			break wait
		case <-tick.C:
		case <-deadline:
			_ = cmd.Process.Kill()
			<-exited
			t.Fatal("further SIGINTs did not end the process")
		}
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Errorf("process ended with %v, want killed by SIGINT", cmd.ProcessState)
	}
}
