package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/nvr-project/nvr/internal/passwd"
)

const hashPasswordHelp = `usage: nvr hash-password

Reads a password from standard input (one line; from a terminal it is asked
for without echo) and prints its argon2id hash for a user's password_hash in
the config:

  users:
    - name: alice
      password_hash: "$argon2id$v=19$m=65536,t=3,p=2$…"`

func runHashPassword(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("hash-password", hashPasswordHelp, stdout, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	pw, err := readPassword(os.Stdin, stderr)
	if err != nil {
		return err
	}
	h, err := passwd.Hash(pw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, h)
	return err
}

// readPassword reads one line: from a terminal without echo, else from
// the pipe or file. The line ending is not part of the password.
func readPassword(in *os.File, prompt io.Writer) (string, error) {
	if term.IsTerminal(int(in.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReaderSize(io.LimitReader(in, passwd.MaxPasswordLen+2), passwd.MaxPasswordLen+2).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}
