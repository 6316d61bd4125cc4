package recorder

// Change is what a job reports through Deps.OnChange: it entered a state,
// recorded a failure, or started a new run (Status.RecordingSince moved;
// after an RTP timestamp jump Status.TimeJumps has grown).
type Change struct {
	// Status is the job's status right after the change.
	Status Status
	// Err is the failure the change reports, or nil. Its message is
	// redacted like Status.LastError; errors.Is and errors.As see the
	// original error (e.g. ErrWrite wrapping the write's syscall error).
	Err error
}

// redactedError carries an error whose message has the camera's
// credentials removed while keeping the original for errors.Is.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
