extension AdminOpenAPI {
    /// Server-side RPC to a device (part of `document`).
    static let rpcPaths = #"""
    "/api/devices/{id}/rpc": {
      "parameters": [
        {
          "name": "id",
          "in": "path",
          "required": true,
          "schema": {
            "type": "string",
            "format": "uuid"
          }
        }
      ],
      "post": {
        "summary": "Server-side RPC to every live session of the device that carries RPC (MQTT subscription, CoAP observation, HTTP long-poll); two-way unless oneway is true",
        "operationId": "sendRPC",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "required": [
                  "method"
                ],
                "properties": {
                  "method": {
                    "type": "string"
                  },
                  "params": {},
                  "timeout": {
                    "type": "integer",
                    "description": "milliseconds a two-way call waits for the reply (default 10000)"
                  },
                  "oneway": {
                    "type": "boolean"
                  },
                  "persistent": {
                    "type": "boolean",
                    "description": "keep the request until the device can take it; answered at once with the stored RPC, its state at GET /api/rpc/{rpcId}"
                  },
                  "expirationTime": {
                    "type": "integer",
                    "description": "persistent: ms since the epoch after which an undelivered RPC is EXPIRED (default one day)"
                  }
                }
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "two-way: {id, response} with the device's reply; one-way: {id, sessions} once handed over",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "properties": {
                    "id": {
                      "type": "integer"
                    },
                    "sessions": {
                      "type": "integer"
                    }
                  }
                }
              }
            }
          },
          "400": {
            "description": "invalid body or method",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "404": {
            "description": "no such device",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "504": {
            "description": "two-way: the device did not reply within the timeout",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "409": {
            "description": "the device has no live session",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "401": {
            "description": "missing or wrong bearer key",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          }
        }
      }
    },
"""#

    /// The state of a persistent RPC (part of `document`).
    static let rpcStatusPaths = #"""
    "/api/rpc/{rpcId}": {
      "parameters": [
        {
          "name": "rpcId",
          "in": "path",
          "required": true,
          "schema": {
            "type": "integer"
          }
        }
      ],
      "get": {
        "summary": "A persistent RPC: status QUEUED, SENT, DELIVERED, SUCCESSFUL, TIMEOUT, EXPIRED or FAILED, and the device's response",
        "operationId": "showRPC",
        "responses": {
          "200": {
            "description": "the RPC",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          },
          "404": {
            "description": "no such RPC",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "401": {
            "description": "missing or wrong bearer key",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          }
        }
      }
    },
"""#
}
