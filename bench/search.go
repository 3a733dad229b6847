package bench

import (
	"context"
	"errors"
)

// Trial is one fixed-rate trial of a throughput search.
type Trial struct {
	// OfferedPPS is the rate the trial asked the sender for.
	OfferedPPS float64 `json:"offered_pps"`
	// SentPPS is the rate the sender achieved (it may fall short).
	SentPPS float64 `json:"sent_pps"`
	// Loss is the fraction of sent frames not received, 0 to 1.
	Loss float64 `json:"loss"`
	// Pass is Loss <= the search's MaxLoss.
	Pass bool `json:"pass"`
}

// TrialFunc runs one trial at pps packets per second and reports the rate
// actually sent and the loss. It is called sequentially.
type TrialFunc func(ctx context.Context, pps float64) (sentPPS, loss float64, err error)

// SearchRate is the RFC 2544 §26.1 binary search for throughput: starting
// at hi, each trial that passes (loss <= maxLoss) raises the lower bound
// and each that fails lowers the upper bound (to the rate actually sent,
// if the sender fell short), for iterations trials. It
// returns the highest SentPPS of a passing trial (0 if none passed) and
// every trial in order. Reporting the sent rather than the offered rate
// keeps the result honest when the generator cannot reach the offered
// rate. An error from trial ends the search and is returned with the
// trials so far.
func SearchRate(ctx context.Context, lo, hi float64, iterations int, maxLoss float64, trial TrialFunc) (best float64, trials []Trial, err error) {
	if lo < 0 || hi <= lo || iterations < 1 || trial == nil {
		return 0, nil, errors.New("bench: SearchRate needs 0 <= lo < hi, iterations >= 1 and a trial")
	}
	rate := hi
	for i := 0; i < iterations; i++ {
		if err := ctx.Err(); err != nil {
			return best, trials, err
		}
		sent, loss, err := trial(ctx, rate)
		if err != nil {
			return best, trials, err
		}
		t := Trial{OfferedPPS: rate, SentPPS: sent, Loss: loss, Pass: loss <= maxLoss}
		trials = append(trials, t)
		if t.Pass {
			best = max(best, sent)
			lo = rate
		} else {
			// Offering more than the generator can send measures the
			// generator, not the device: cap the bound at what was sent.
			hi = rate
			if sent > lo && sent < hi {
				hi = sent
			}
		}
		rate = (lo + hi) / 2
	}
	return best, trials, nil
}
