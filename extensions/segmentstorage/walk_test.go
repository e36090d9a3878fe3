package segmentstorage

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

func TestWalk(t *testing.T) {
	errStop := errors.New("stop here")
	before := map[string]string{"a": "1", "b": "22", "c": "", "d": "4444"}
	tests := []struct {
		name string
		// fn returns what the callback returns for each key, nil for nothing
		fn      func(key string, value []byte) ([]*storage.Operation, error)
		seen    []string          // keys the callback must see, in order
		after   map[string][]byte // the store's content after the walk (and after a reopen)
		err     error             // errors.Is the error of Walk
		errText string
	}{
		{
			name:  "every key once, in key order, nothing changed",
			seen:  []string{"a", "b", "c", "d"},
			after: map[string][]byte{"a": []byte("1"), "b": []byte("22"), "c": {}, "d": []byte("4444")},
		},
		{
			name: "returned deletes and sets are applied, in order",
			fn: func(key string, value []byte) ([]*storage.Operation, error) {
				switch key {
				case "a":
					return []*storage.Operation{storage.DeleteOperation("a")}, nil
				case "b":
					return []*storage.Operation{storage.SetOperation("b", append(value, '!')), storage.SetOperation("new", []byte("n"))}, nil
				case "d":
					return []*storage.Operation{storage.SetOperation("new", []byte("later")), storage.DeleteOperation("c")}, nil
				}
				return nil, nil
			},
			seen:  []string{"a", "b", "c", "d"}, // the set of "new" is not seen: it is applied after the walk
			after: map[string][]byte{"a": nil, "b": []byte("22!"), "c": nil, "d": []byte("4444"), "new": []byte("later")},
		},
		{
			name: "values are copies the callback may change and keep",
			fn: func(_ string, value []byte) ([]*storage.Operation, error) {
				for i := range value {
					value[i] = 'X'
				}
				return nil, nil
			},
			seen:  []string{"a", "b", "c", "d"},
			after: map[string][]byte{"a": []byte("1"), "b": []byte("22"), "c": {}, "d": []byte("4444")},
		},
		{
			name: "an error stops the walk, is returned and nothing is applied",
			fn: func(key string, _ []byte) ([]*storage.Operation, error) {
				if key == "b" {
					return []*storage.Operation{storage.DeleteOperation("d")}, errStop
				}
				return []*storage.Operation{storage.DeleteOperation(key)}, nil
			},
			seen:    []string{"a", "b"},
			after:   map[string][]byte{"a": []byte("1"), "b": []byte("22"), "c": {}, "d": []byte("4444")},
			err:     errStop,
			errText: `segment_storage: walk stopped at key "b": stop here`,
		},
		{
			name: "SkipAll stops the walk and applies what was returned, its own ops too",
			fn: func(key string, _ []byte) ([]*storage.Operation, error) {
				if key == "b" {
					return []*storage.Operation{storage.DeleteOperation("d")}, storage.SkipAll
				}
				return []*storage.Operation{storage.DeleteOperation(key)}, nil
			},
			seen:  []string{"a", "b"},
			after: map[string][]byte{"a": nil, "b": []byte("22"), "c": {}, "d": nil},
		},
		{
			name: "a bad operation fails the walk and nothing is applied",
			fn: func(key string, _ []byte) ([]*storage.Operation, error) {
				return []*storage.Operation{storage.DeleteOperation(key), nil}, nil
			},
			seen:    []string{"a", "b", "c", "d"},
			after:   map[string][]byte{"a": []byte("1"), "b": []byte("22"), "c": {}, "d": []byte("4444")},
			errText: "segment_storage: walk: applying the operations: segment_storage: nil operation in a batch",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			s, _ := openTestStore(t, dir, nil)
			for k, v := range before {
				require.NoError(t, s.Set(ctx, k, []byte(v)))
			}
			var seen []string
			err := s.Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
				seen = append(seen, key)
				require.Equal(t, []byte(before[key]), value, "key %q", key)
				if tt.fn == nil {
					return nil, nil
				}
				return tt.fn(key, value)
			})
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
			}
			if tt.errText != "" {
				require.EqualError(t, err, tt.errText)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tt.seen, seen)
			keys := []string{"a", "b", "c", "d", "new"}
			requireState(t, s, keys, tt.after)
			require.NoError(t, s.Close(ctx))
			reopened, _ := openTestStore(t, dir, nil)
			requireState(t, reopened, keys, tt.after)
		})
	}
}

func TestWalkGetOperations(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t, t.TempDir(), nil)
	require.NoError(t, s.Set(ctx, "a", []byte("1")))
	get := storage.GetOperation("a")
	require.NoError(t, s.Walk(ctx, func(string, []byte) ([]*storage.Operation, error) {
		return []*storage.Operation{storage.SetOperation("a", []byte("2")), get}, nil
	}))
	require.Equal(t, []byte("2"), get.Value, "a Get sees the writes before it")
}

func TestWalkEmptyAndBadUse(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t, t.TempDir(), nil)
	called := false
	require.NoError(t, s.Walk(ctx, func(string, []byte) ([]*storage.Operation, error) {
		called = true
		return nil, nil
	}))
	require.False(t, called, "no keys, no calls")

	require.NoError(t, s.Set(ctx, "a", []byte("1")))
	require.NoError(t, s.Set(ctx, "b", []byte("2")))
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, s.Walk(canceled, func(string, []byte) ([]*storage.Operation, error) {
		t.Fatal("called with a canceled context")
		return nil, nil
	}), context.Canceled)

	walking, cancel := context.WithCancel(ctx)
	err := s.Walk(walking, func(key string, _ []byte) ([]*storage.Operation, error) {
		cancel() // the walk stops before the next key
		return []*storage.Operation{storage.DeleteOperation(key)}, nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.EqualError(t, err, "segment_storage: walk: context canceled")
	requireState(t, s, []string{"a", "b"}, map[string][]byte{"a": []byte("1"), "b": []byte("2")})

	require.NoError(t, s.Close(ctx))
	require.ErrorIs(t, s.Walk(ctx, func(string, []byte) ([]*storage.Operation, error) {
		t.Fatal("called after Close")
		return nil, nil
	}), errClosed)
}

// TestWalkThroughTheExtension checks that the extension's clients are Walkers, as the podlogs
// receiver asserts.
func TestWalkThroughTheExtension(t *testing.T) {
	ctx := context.Background()
	ext := newTestExtension(t, t.TempDir())
	c, err := ext.GetClient(ctx, component.KindReceiver, component.MustNewID("podlogs"), "")
	require.NoError(t, err)
	require.NoError(t, c.Set(ctx, "offset/a", []byte("1")))
	w, ok := c.(storage.Walker)
	require.True(t, ok)
	n := 0
	require.NoError(t, w.Walk(ctx, func(string, []byte) ([]*storage.Operation, error) { n++; return nil, nil }))
	require.Equal(t, 1, n)
	require.NoError(t, c.Close(ctx))
	require.NoError(t, ext.Shutdown(ctx))
}
