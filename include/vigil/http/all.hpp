#pragma once
// Everything in the vigil::http target: include this or the single headers.

#include "vigil/http/auth.hpp"
#include "vigil/http/endpoint.hpp"
#include "vigil/http/endpoint_options.hpp"
#include "vigil/http/handler.hpp"
#include "vigil/http/health.hpp"
#include "vigil/http/byte_source.hpp"
#include "vigil/http/problem.hpp"
#include "vigil/http/response_body.hpp"
#include "vigil/http/server.hpp"
#include "vigil/http/server_handler.hpp"
#include "vigil/http/server_metrics.hpp"
#include "vigil/http/server_options.hpp"
