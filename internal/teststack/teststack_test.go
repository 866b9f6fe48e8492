package teststack

import (
	"reflect"
	"strings"
	"testing"
)

func TestReadDotEnv(t *testing.T) {
	env, err := ReadDotEnv(strings.NewReader("# comment\n\nA=1\n  B = x\nC=\"q=2\"\nD='s'\nnoequals\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B ": " x", "C": "q=2", "D": "s"}
	if !reflect.DeepEqual(env, want) {
		t.Fatalf("got %q", env)
	}
}
