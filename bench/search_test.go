package bench

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// lossAbove simulates a device that loses 1 % of frames above capacity and
// a generator that can send at most genMax.
func lossAbove(capacity, genMax float64) TrialFunc {
	return func(_ context.Context, pps float64) (float64, float64, error) {
		sent := min(pps, genMax)
		if sent > capacity {
			return sent, 0.01, nil
		}
		return sent, 0, nil
	}
}

func TestSearchRate(t *testing.T) {
	tests := []struct {
		name       string
		trial      TrialFunc
		hi         float64
		iterations int
		wantBest   float64
		wantRates  []float64 // offered rates in order
	}{
		{"capacity 300k", lossAbove(300e3, 1e9), 1000e3, 4, 250e3, []float64{1000e3, 500e3, 250e3, 375e3}},
		{"everything passes", lossAbove(1e9, 1e9), 1000e3, 2, 1000e3, []float64{1000e3, 1000e3}},
		{"nothing passes", lossAbove(0, 1e9), 1000e3, 3, 0, []float64{1000e3, 500e3, 250e3}},
		// The generator only reaches 100k: the bound drops to it at once.
		{"sender limited", lossAbove(80e3, 100e3), 1000e3, 3, 75e3, []float64{1000e3, 50e3, 75e3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			best, trials, err := SearchRate(context.Background(), 0, tt.hi, tt.iterations, 0.001, tt.trial)
			if err != nil {
				t.Fatal(err)
			}
			if best != tt.wantBest {
				t.Errorf("unexpected best rate:\n- want: %v\n-  got: %v", tt.wantBest, best)
			}
			var rates []float64
			for _, tr := range trials {
				rates = append(rates, tr.OfferedPPS)
			}
			if diff := cmp.Diff(tt.wantRates, rates); diff != "" {
				t.Errorf("unexpected offered rates (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSearchRateErrors(t *testing.T) {
	boom := errors.New("boom")
	calls := 0
	_, trials, err := SearchRate(context.Background(), 0, 100, 5, 0, func(context.Context, float64) (float64, float64, error) {
		calls++
		if calls == 2 {
			return 0, 0, boom
		}
		return 100, 0, nil
	})
	if !errors.Is(err, boom) || len(trials) != 1 {
		t.Errorf("unexpected result:\n- want: %v after 1 trial\n-  got: %v after %d", boom, err, len(trials))
	}
	if _, _, err := SearchRate(context.Background(), 10, 5, 1, 0, lossAbove(1, 1)); err == nil {
		t.Error("unexpected success with lo > hi")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := SearchRate(ctx, 0, 5, 1, 0, lossAbove(1, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("unexpected error:\n- want: %v\n-  got: %v", context.Canceled, err)
	}
}
