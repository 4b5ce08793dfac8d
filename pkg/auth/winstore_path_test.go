package auth

import (
	"testing"
)

func TestParseCertStorePath(t *testing.T) {
	const thumb = "A11F8A9B5DF5B98BA3508FBCA575D09570E0D2C6"
	tests := []struct {
		in   string
		want StorePath
		err  []string
	}{
		{in: `CurrentUser\MY\` + thumb, want: StorePath{"CurrentUser", "MY", thumb}},
		{in: `currentuser\My\a11f8a9b5df5b98ba3508fbca575d09570e0d2c6`, want: StorePath{"CurrentUser", "My", thumb}},
		{in: `LOCALMACHINE\Root\` + thumb, want: StorePath{"LocalMachine", "Root", thumb}},
		{in: `LocalMachine\MY\a1 1f 8a 9b 5d f5 b9 8b a3 50 8f bc a5 75 d0 95 70 e0 d2 c6`, want: StorePath{"LocalMachine", "MY", thumb}},
		{in: `CurrentUser\MY\A1:1F:8A:9B:5D:F5:B9:8B:A3:50:8F:BC:A5:75:D0:95:70:E0:D2:C6`, want: StorePath{"CurrentUser", "MY", thumb}},
		{in: "CurrentUser\\MY\\\u200e" + thumb, want: StorePath{"CurrentUser", "MY", thumb}}, // copied from the certificate dialog
		{in: `Cert:\CurrentUser\My\` + thumb, want: StorePath{"CurrentUser", "My", thumb}},
		{in: `  CurrentUser/MY/` + thumb + "  ", want: StorePath{"CurrentUser", "MY", thumb}},
		{in: `CurrentService\MY\` + thumb, want: StorePath{"CurrentService", "MY", thumb}},
		{in: `Services\mosquitto\MY\` + thumb, want: StorePath{"Services", `mosquitto\MY`, thumb}},
		{in: `Users\S-1-5-18\MY\` + thumb, want: StorePath{"Users", `S-1-5-18\MY`, thumb}},
		{in: `CurrentUserGroupPolicy\Root\` + thumb, want: StorePath{"CurrentUserGroupPolicy", "Root", thumb}},
		{in: `LocalMachineGroupPolicy\Root\` + thumb, want: StorePath{"LocalMachineGroupPolicy", "Root", thumb}},
		{in: `LocalMachineEnterprise\CA\` + thumb, want: StorePath{"LocalMachineEnterprise", "CA", thumb}},

		{in: ``, err: []string{"empty", `CurrentUser\MY\`}},
		{in: thumb, err: []string{"1 part"}},
		{in: `CurrentUser\` + thumb, err: []string{"2 part"}},
		{in: `Nowhere\MY\` + thumb, err: []string{`unknown store location "Nowhere"`, "LocalMachineEnterprise"}},
		{in: `CurrentUser\MY\Sub\` + thumb, err: []string{"one part"}},
		{in: `Services\MY\` + thumb, err: []string{"service name or user SID"}},
		{in: `CurrentUser\ \` + thumb, err: []string{"empty store name"}},
		{in: `CurrentUser\MY\A11F8A9B`, err: []string{"not 40 hex digits"}},
		{in: `CurrentUser\MY\` + thumb + "00", err: []string{"not 40 hex digits"}},
		{in: `CurrentUser\MY\Z11F8A9B5DF5B98BA3508FBCA575D09570E0D2C6`, err: []string{"not 40 hex digits"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCertStorePath(tc.in)
			if tc.err != nil {
				certWantUsage(t, err, append(tc.err, "--cert-store")...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if again, err := ParseCertStorePath(got.String()); err != nil || again != got {
				t.Fatalf("String() %q does not parse back: %+v %v", got.String(), again, err)
			}
		})
	}
}
