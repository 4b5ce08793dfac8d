//go:build deps

// Package deps pins the project's planned dependencies in go.mod while the
// packages that use them are written. Built only with -tags deps.
package deps

import (
	_ "github.com/HdrHistogram/hdrhistogram-go"
	_ "github.com/ThalesGroup/crypto11"
	_ "github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	_ "github.com/aws/aws-sdk-go-v2/service/sts"
	_ "github.com/eclipse/paho.golang/autopaho"
	_ "github.com/eclipse/paho.golang/packets"
	_ "github.com/eclipse/paho.golang/paho"
	_ "github.com/google/certtostore"
	_ "github.com/google/uuid"
	_ "github.com/gorilla/websocket"
	_ "github.com/miekg/pkcs11"
	_ "github.com/mochi-mqtt/server/v2"
	_ "github.com/mochi-mqtt/server/v2/hooks/auth"
	_ "github.com/mochi-mqtt/server/v2/listeners"
	_ "github.com/vbauerster/mpb/v8"
	_ "go.uber.org/goleak"
	_ "software.sslmate.com/src/go-pkcs12"
)
