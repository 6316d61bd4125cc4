package api

import "github.com/nvr-project/nvr/storage"

// The index the binary wires in must satisfy the API's Store interface.
var _ Store = (*storage.Store)(nil)
