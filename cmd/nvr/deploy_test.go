package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvr-project/nvr/api"
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

// TestHostDeployment keeps the systemd unit and the bare-metal config in
// step: the unit runs nvr as its own user with the config's data_dir as
// the one writable path, restarts it, and is hardened; the config loads.
func TestHostDeployment(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nvr-host.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"FRONT_DOOR_PASSWORD": "p@ss#1", "GARAGE_PASSWORD": "s3cret"}
	cfg, err := config.Parse(data, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !api.IsLoopback(cfg.Listen) || len(cfg.Cameras) == 0 || len(cfg.API.AllowedHosts) == 0 {
		t.Errorf("bare-metal config: listen %s, %d cameras, allowed_hosts %v", cfg.Listen, len(cfg.Cameras), cfg.API.AllowedHosts)
	}

	unitPath := filepath.Join("..", "..", "deploy", "nvr.service")
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, line := range strings.Split(string(unit), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("unit line %q is not key=value", line)
		}
		keys[k] = v
	}
	want := map[string]string{
		"User":              "nvr",
		"Group":             "nvr",
		"ExecStart":         "/usr/local/bin/nvr serve -config /etc/nvr/nvr.yaml",
		"ExecReload":        "/bin/kill -HUP $MAINPID",
		"Restart":           "on-failure",
		"KillSignal":        "SIGTERM",
		"NoNewPrivileges":   "yes",
		"ProtectSystem":     "strict",
		"ReadWritePaths":    cfg.DataDir,
		"RequiresMountsFor": cfg.DataDir,
		"ProtectHome":       "yes",
		"PrivateTmp":        "yes",
	}
	for k, v := range want {
		if keys[k] != v {
			t.Errorf("unit %s=%q, want %q", k, keys[k], v)
		}
	}
	// The unit never passes -init: a data dir that did not mount must stop
	// nvr, not be initialised on the root filesystem.
	if strings.Contains(keys["ExecStart"], "-init") {
		t.Error("ExecStart passes -init")
	}
	// Where systemd is at hand, it must find nothing wrong beyond the
	// binary not being installed on this machine.
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		out, _ := exec.Command(sa, "verify", unitPath).CombinedOutput()
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line != "" && !strings.Contains(line, "/usr/local/bin/nvr is not executable") {
				t.Errorf("systemd-analyze verify: %s", line)
			}
		}
	}
}
