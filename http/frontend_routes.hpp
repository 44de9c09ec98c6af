#pragma once
// The routes where users meet the gateway: async jobs with server-sent events, the OpenAI Images
// API, the web page, Slack, and the expiring image URLs the last two hand out. They share a job
// store and an image store, made once per server by add_all_routes (routes.hpp).

#include <memory>

#include "cluster_config/config.hpp"
#include "http/image_store.hpp"
#include "http/jobs.hpp"
#include "http/routes.hpp"

namespace muse::http {

// POST /api/v1/jobs, GET /api/v1/jobs (the caller's), GET|DELETE /api/v1/jobs/{id},
// GET /api/v1/jobs/{id}/events.
void add_job_routes(route_table& table, std::shared_ptr<job_store> jobs);
// GET /api/v1/images/{token}: a PNG handed out as a URL, until it expires.
void add_image_routes(route_table& table, std::shared_ptr<image_store> images);
// POST /v1/images/generations.
void add_openai_routes(route_table& table, std::shared_ptr<image_store> images);
// GET / and the web page's files (http/web: the page, openapi.json, the API's page at /api-docs),
// compiled into the binary.
void add_web_routes(route_table& table);
// POST /sdapi/v1/txt2img, /sdapi/v1/img2img; GET /sdapi/v1/progress, /sdapi/v1/sd-models,
// /sdapi/v1/samplers: AUTOMATIC1111's API.
void add_a1111_routes(route_table& table);
// POST /slack/commands.
void add_slack_routes(route_table& table, std::shared_ptr<image_store> images);

}  // namespace muse::http
