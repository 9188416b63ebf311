#ifndef TB_GATEWAY_CMOSQUITTO_SHIM_H
#define TB_GATEWAY_CMOSQUITTO_SHIM_H
// Debian's libmosquitto-dev; used by the MQTT bridge (Transports/MQTTBridge).
#include <mosquitto.h>
#endif
