package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"15m", 15 * time.Minute, false},
		{"1h30m", 90 * time.Minute, false},
		{"90s", 90 * time.Second, false},
		{"2d", 48 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{"0s", 0, false},
		{" 5m ", 5 * time.Minute, false},
		{"900", 0, true},
		{"", 0, true},
		{"15 minutes", 0, true},
		{"-5m", 0, true},
		{"xd", 0, true},
		{"99999d", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseDuration(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got.D() != tt.want {
			t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got.D(), tt.want)
		}
	}
}

func TestCountOrPercentRounding(t *testing.T) {
	tests := []struct {
		c           CountOrPercent
		total       int
		of, atLeast int
	}{
		{Percent(9.2), 750, 69, 69},
		{Percent(4.6), 1500, 69, 69},
		{Percent(50), 3, 1, 2},
		{Percent(10), 10, 1, 1},
		{Percent(1), 10, 1, 1},
		{Percent(0), 10, 0, 0},
		{Count(5), 3, 3, 3},
		{Percent(100), 7, 7, 7},
	}
	for _, tt := range tests {
		if got := tt.c.Of(tt.total); got != tt.of {
			t.Errorf("%s.Of(%d) = %d, want %d", tt.c, tt.total, got, tt.of)
		}
		if got := tt.c.AtLeast(tt.total); got != tt.atLeast {
			t.Errorf("%s.AtLeast(%d) = %d, want %d", tt.c, tt.total, got, tt.atLeast)
		}
	}
}

func TestDurationString(t *testing.T) {
	for d, want := range map[Duration]string{
		Duration(15 * time.Minute): "15m",
		Duration(2 * time.Hour):    "2h",
		Duration(90 * time.Second): "1m30s",
	} {
		if got := d.String(); got != want {
			t.Errorf("%v.String() = %q, want %q", d.D(), got, want)
		}
	}
}

func TestCountOrPercent(t *testing.T) {
	tests := []struct {
		in      string
		want    CountOrPercent
		str     string
		of10    int
		of3     int
		wantErr bool
	}{
		{in: "2", want: Count(2), str: "2", of10: 2, of3: 2},
		{in: "25%", want: Percent(25), str: "25%", of10: 2, of3: 1},
		{in: "10%", want: Percent(10), str: "10%", of10: 1, of3: 1},
		{in: "100%", want: Percent(100), str: "100%", of10: 10, of3: 3},
		{in: "12.5%", want: Percent(12.5), str: "12.5%", of10: 1, of3: 1},
		{in: "50", want: Count(50), str: "50", of10: 10, of3: 3},
		{in: "0", want: Count(0), str: "0", of10: 0, of3: 0},
		{in: "0%", want: Percent(0), str: "0%", of10: 0, of3: 0},
		{in: "110%", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "-1%", wantErr: true},
		{in: "ten", wantErr: true},
		{in: "1.5", wantErr: true},
		{in: "%", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseCountOrPercent(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseCountOrPercent(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if got != tt.want {
			t.Errorf("ParseCountOrPercent(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if got.String() != tt.str {
			t.Errorf("String() = %q, want %q", got.String(), tt.str)
		}
		if n := got.Of(10); n != tt.of10 {
			t.Errorf("%s.Of(10) = %d, want %d", tt.in, n, tt.of10)
		}
		if n := got.Of(3); n != tt.of3 {
			t.Errorf("%s.Of(3) = %d, want %d", tt.in, n, tt.of3)
		}
		if n := got.Of(0); n != 0 {
			t.Errorf("%s.Of(0) = %d, want 0", tt.in, n)
		}
	}
}
