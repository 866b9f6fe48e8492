package repo_test

import (
	"testing"

	"snap/repo"
	"snap/repo/backendtest"
)

func TestLocalBackend(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) repo.Backend { return repo.NewLocal(t.TempDir()) })
}
