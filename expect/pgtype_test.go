package expect

import (
	"math"
	"math/big"
	"net/netip"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// TestPgtypeValues compares the value types pgx really returns, not
// imitations: the mapping through json.Marshaler and driver.Valuer is
// what makes them work.
func TestPgtypeValues(t *testing.T) {
	when := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, tc := range []struct {
		name          string
		expected, got any
		want          bool
	}{
		{"numeric = int", int64(1250), pgtype.Numeric{Int: big.NewInt(125), Exp: 1, Valid: true}, true},
		{"numeric = float", 12.5, pgtype.Numeric{Int: big.NewInt(1250), Exp: -2, Valid: true}, true},
		{"numeric 0.1 = TOML 0.1", 0.1, pgtype.Numeric{Int: big.NewInt(1), Exp: -1, Valid: true}, true},
		{"numeric != other", 12.4, pgtype.Numeric{Int: big.NewInt(1250), Exp: -2, Valid: true}, false},
		{"numeric is not a string", "12.50", pgtype.Numeric{Int: big.NewInt(1250), Exp: -2, Valid: true}, false},
		{"numeric NULL", nil, pgtype.Numeric{}, true},
		{"numeric NaN", "NaN", pgtype.Numeric{NaN: true, Valid: true}, false},
		{"numeric NaN = nan", math.NaN(), pgtype.Numeric{NaN: true, Valid: true}, true},
		{"numeric Infinity = inf", math.Inf(1), pgtype.Numeric{InfinityModifier: pgtype.Infinity, Valid: true}, true},
		{"timestamptz", "2024-05-06T07:08:09Z", pgtype.Timestamptz{Time: when, Valid: true}, true},
		{"timestamptz other instant", "2024-05-06T07:08:10Z", pgtype.Timestamptz{Time: when, Valid: true}, false},
		{"interval as its text", "1 day 00:00:01", pgtype.Interval{Days: 1, Microseconds: 1e6, Valid: true}, true},
		{"uuid struct", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", pgtype.UUID{Bytes: [16]byte{0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11}, Valid: true}, true},
		{"int4", int64(7), pgtype.Int4{Int32: 7, Valid: true}, true},
		{"text", "ada", pgtype.Text{String: "ada", Valid: true}, true},
		{"text NULL", nil, pgtype.Text{}, true},
		{"inet", "10.0.0.0/8", netip.MustParsePrefix("10.0.0.0/8"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Equal(tc.expected, tc.got); got != tc.want {
				t.Errorf("Equal(%s, %s) = %v, want %v", Format(tc.expected), Format(tc.got), got, tc.want)
			}
		})
	}
	if got := Format(pgtype.Numeric{Int: big.NewInt(1250), Exp: -2, Valid: true}); got != "12.50" {
		t.Errorf("Format(numeric 12.50) = %s", got)
	}
	wantMessages(t, Value("rows[0][0]", 12, pgtype.Numeric{Int: big.NewInt(1250), Exp: -2, Valid: true}), "rows[0][0]: expected 12, got 12.50")
}
