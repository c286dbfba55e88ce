#pragma once
/// The OpenAPI 3.1 document served at /openapi.json. A test checks that it documents exactly the
/// routes the router serves.
#include <boost/json/value.hpp>

namespace returnflow::api {

boost::json::value OpenApiDocument();

}  // namespace returnflow::api
