/// The admin API's OpenAPI document, served at `/openapi.json` and kept
/// identical to docs/admin-openapi.json (a test compares them).
enum AdminOpenAPI {
    static let document = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "tb-gateway admin API",
    "version": "0.1.0",
    "description": "Device provisioning and attributes. Every request needs Authorization: Bearer ADMIN_API_KEY."
  },
  "servers": [
    {
      "url": "http://127.0.0.1:8082"
    }
  ],
  "security": [
    {
      "bearer": []
    }
  ],
  "paths": {
    "/openapi.json": {
      "get": {
        "summary": "This document",
        "operationId": "openapi",
        "responses": {
          "200": {
            "description": "the OpenAPI document",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
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
\#(devicePaths)
\#(rpcPaths)
\#(lwm2mPaths)
\#(rpcStatusPaths)
    "/api/devices/{id}/attributes/{scope}": {
      "parameters": [
        {
          "name": "id",
          "in": "path",
          "required": true,
          "schema": {
            "type": "string",
            "format": "uuid"
          }
        },
        {
          "name": "scope",
          "in": "path",
          "required": true,
          "schema": {
            "type": "string",
            "enum": [
              "client",
              "shared",
              "server"
            ]
          }
        }
      ],
      "get": {
        "summary": "Read attributes of a scope",
        "operationId": "readAttributes",
        "parameters": [
          {
            "name": "keys",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "comma-separated keys; all when absent"
          }
        ],
        "responses": {
          "200": {
            "description": "the attributes",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "additionalProperties": true,
                  "description": "attribute keys and their JSON values"
                }
              }
            }
          },
          "404": {
            "description": "no such device or scope",
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
      },
      "post": {
        "summary": "Write shared or server attributes (client attributes are the device's)",
        "operationId": "writeAttributes",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "additionalProperties": true,
                "description": "attribute keys and their JSON values"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "every attribute of the scope after the write",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "additionalProperties": true,
                  "description": "attribute keys and their JSON values"
                }
              }
            }
          },
          "400": {
            "description": "invalid body or client scope",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "404": {
            "description": "no such device or scope",
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
      },
      "delete": {
        "summary": "Delete shared or server attributes",
        "operationId": "deleteAttributes",
        "parameters": [
          {
            "name": "keys",
            "in": "query",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "the keys that existed",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "properties": {
                    "deleted": {
                      "type": "array",
                      "items": {
                        "type": "string"
                      }
                    }
                  }
                }
              }
            }
          },
          "400": {
            "description": "keys missing or client scope",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "404": {
            "description": "no such device or scope",
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
    }
  },
  "components": {
    "securitySchemes": {
      "bearer": {
        "type": "http",
        "scheme": "bearer"
      }
    },
    "schemas": {
      "Device": {
        "type": "object",
        "properties": {
          "id": {
            "type": "string",
            "format": "uuid"
          },
          "name": {
            "type": "string"
          },
          "type": {
            "type": "string"
          },
          "enabled": {
            "type": "boolean"
          },
          "createdAt": {
            "type": "integer",
            "description": "ms since the epoch"
          },
          "updatedAt": {
            "type": "integer"
          },
          "lastActivityAt": {
            "type": [
              "integer",
              "null"
            ]
          }
        },
        "required": [
          "id",
          "name",
          "type",
          "enabled",
          "createdAt",
          "updatedAt",
          "lastActivityAt"
        ]
      },
      "DeviceWithToken": {
        "allOf": [
          {
            "$ref": "#/components/schemas/Device"
          },
          {
            "type": "object",
            "properties": {
              "token": {
                "type": "string",
                "description": "the access token; shown only in this answer"
              }
            },
            "required": [
              "token"
            ]
          }
        ]
      },
      "Error": {
        "type": "object",
        "properties": {
          "error": {
            "type": "string"
          },
          "field": {
            "type": "string",
            "description": "the input at fault"
          }
        },
        "required": [
          "error"
        ]
      }
    }
  }
}

"""#
}
