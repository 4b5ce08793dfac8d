// Command iotctl is the MQTT5 command line for AWS IoT Core and any MQTT5 broker.
package main

import (
	"os"

	"github.com/iotctl/iotctl/cmd/root"
)

func main() {
	os.Exit(root.Main())
}
