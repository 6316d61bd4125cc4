package main

import (
	"context"
	"errors"
	"io"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error  { return errors.New("todo") }
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error   { return errors.New("todo") }
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error { return errors.New("todo") }
