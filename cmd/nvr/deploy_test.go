package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nvr-project/nvr/internal/config"
)

// TestDeployConfigLoads keeps the example config that docker-compose.yml
// mounts valid as the config format evolves.
func TestDeployConfigLoads(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nvr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"NVR_API_TOKEN": "0123456789abcdef0123", "FRONT_DOOR_PASSWORD": "s3cret"}
	cfg, err := config.Parse(data, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Cameras) != 2 || cfg.API.Token == "" || !cfg.API.AllowRemote {
		t.Fatalf("unexpected config: %+v", cfg)
	}
}
