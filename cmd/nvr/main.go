// Command nvr is a network video recorder for RTSP cameras.
//
// Each subcommand lives in its own file with its flags, help text and a run
// function; main only dispatches and turns errors into exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "record the cameras of a config file and serve the API", runServe},
		{"demo", "record a built-in test camera and serve the API", runDemo},
		{"probe", "connect to a camera and describe its stream as JSON", runProbe},
		{"export", "export a time range of a camera as one MP4 file", runExport},
		{"check", "validate a config file (and its data_dir) without recording", runCheck},
		{"testcam", "serve a built-in test clip as an RTSP camera", runTestcam},
		{"migrate-index", "move a data dir's index from SQLite to PostgreSQL (index.postgres)", runMigrate},
		{"hash-password", "print the hash of a password (from standard input) for a user in the config", runHashPassword},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: nvr <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "  version  print nvr's version")
	fmt.Fprintln(w, "\nRun 'nvr help <command>' or 'nvr <command> -h' for a command's flags.")
}

// errUsage marks an error whose message was already printed with usage.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return 0
	case "help":
		// "nvr help serve" is "nvr serve -h".
		if len(args) == 1 {
			usage(stdout)
			return 0
		}
		args = []string{args[1], "-h"}
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "nvr", version())
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := withSignals(func(ctx context.Context) error { return c.run(ctx, args[1:], stdout, stderr) })
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		default:
			fmt.Fprintf(stderr, "nvr %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "nvr: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// withSignals runs fn with a context that the first SIGINT or SIGTERM
// cancels, asking it to finish cleanly. That first signal also gives both
// their default action back, so a second Ctrl-C ends nvr even if something
// does not return.
func withSignals(fn func(ctx context.Context) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	return fn(ctx)
}

// flagSet is a command's flags with where requested help goes.
type flagSet struct {
	*flag.FlagSet
	stdout io.Writer
}

// newFlagSet returns a flag set that reports errors instead of exiting.
// Help that was asked for (-h) goes to stdout; usage after a mistake goes to
// stderr, after the message naming the mistake.
func newFlagSet(name, help string, stdout, stderr io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet("nvr "+name, flag.ContinueOnError), stdout: stdout}
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nflags:\n", help)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, mapping flag errors to errUsage (already printed,
// with usage, on stderr) and printing requested help on stdout.
func parseFlags(fs *flagSet, args []string) error {
	usage := fs.Usage
	called := false
	// flag calls Usage for -h as well as after an error; which one it was
	// is known only once Parse returns.
	fs.Usage = func() { called = true }
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		stderr := fs.Output()
		fs.SetOutput(fs.stdout)
		fs.Usage()
		fs.SetOutput(stderr)
		return err
	default:
		if called {
			fs.Usage()
		}
		return errUsage
	}
}

// required names the first of the flags (name, value pairs) whose value is
// empty as missing, with usage after it.
func required(fs *flagSet, flags ...string) error {
	for i := 0; i+1 < len(flags); i += 2 {
		if flags[i+1] == "" {
			fmt.Fprintf(fs.Output(), "-%s is required\n\n", flags[i])
			fs.Usage()
			return errUsage
		}
	}
	return nil
}
