// Package storage owns nvr's recorded state: the index of cameras and
// segments — in DATA_DIR/index.db (SQLite, the default) or in a PostgreSQL
// database (Options.Postgres), two implementations of one internal
// interface — the layout of segment files under DATA_DIR/recordings, the
// durability order between the two, recovery after a crash, and retention,
// which are the same code for both backends.
//
// It does not own the bytes inside a segment file (package storage/fmp4
// writes and reads those; recovery takes its scanner as a RecoverFunc, and
// the sample index kept for each complete segment is fmp4's encoding of
// what fmp4.Scan finds in the synced file), nor
// when recording happens (recorder, schedule), nor HTTP (api). It never logs:
// outcomes are returned as errors and reports.
//
// The lifecycle of a segment and the reasons for each step are written down
// in docs/storage.md.
package storage
