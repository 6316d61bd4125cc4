package api

import (
	"time"

	"github.com/nvr-project/nvr/storage"
)

// ExportFileName is the file name the export endpoint gives a download of
// camera's main stream from startNS to endNS (times in loc, nil meaning
// UTC), for clients such as nvr export that save one without a server.
func ExportFileName(camera string, startNS, endNS int64, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return (&handler{loc: loc}).exportName(camera, storage.StreamMain, timeRange{startNS: startNS, endNS: endNS})
}
