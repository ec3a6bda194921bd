package docker

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
)

func TestTransient(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{errors.New(`Error response from daemon: driver failed programming external connectivity on endpoint x: Bind for 127.0.0.1:5432 failed: port is already allocated`), true},
		{fmt.Errorf("dial: %w", syscall.ECONNRESET), true},
		{errors.New("listen tcp 127.0.0.1:80: bind: address already in use"), true},
		{errors.New("Error response from daemon: No such image: nope:1"), false},
		{errors.New(`Error response from daemon: invalid reference format`), false},
		{fmt.Errorf("create: %w", context.Canceled), false},
		{fmt.Errorf("create: %w", context.DeadlineExceeded), false},
	}
	for _, tt := range tests {
		if got := transient(tt.err); got != tt.want {
			t.Errorf("transient(%q) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestRetryTransient(t *testing.T) {
	port := errors.New("port is already allocated")
	missing := errors.New("No such image: nope:1")
	tests := []struct {
		name      string
		errs      []error // what each call returns, in order; nil is success
		wantCalls int
		wantErr   error
	}{
		{"succeeds at once", []error{nil}, 1, nil},
		{"succeeds after transient failures", []error{port, port, nil}, 3, nil},
		{"gives up after three tries", []error{port, port, port, nil}, 3, port},
		{"permanent failure is not retried", []error{missing, nil}, 1, missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			_, err := retryTransient(t.Context(), func() (int, error) {
				err := tt.errs[calls]
				calls++
				return calls, err
			})
			if calls != tt.wantCalls || !errors.Is(err, tt.wantErr) {
				t.Fatalf("calls %d, err %v; want %d calls, err %v", calls, err, tt.wantCalls, tt.wantErr)
			}
		})
	}
}
