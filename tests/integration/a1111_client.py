#!/usr/bin/env python3
"""A client of AUTOMATIC1111's web UI API, written as such clients are (the request bodies of the
`webuiapi` package, urllib only), against the real muse-node with the tiny test pipeline on
loopback: the model and samplers lists, txt2img and img2img, progress while an order runs, and
the errors of what cannot be honoured.

Usage: a1111_client.py MUSE_NODE_BINARY TINY_SD_FOLDER
"""

import base64
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

WIDTH = HEIGHT = 32


def fail(message):
    raise AssertionError(message)


def check(condition, message):
    if not condition:
        fail(message)


class Node:
    """muse-node --role=all on an ephemeral loopback port, killed when the test ends."""

    def __init__(self, binary, model):
        self.folder = tempfile.TemporaryDirectory(prefix="muse-a1111-")
        config = {
            "gateway": {"host": "127.0.0.1", "http_port": 0, "http_threads": 2,
                        "request_timeout_s": 60, "max_body_bytes": 65536,
                        "max_init_image_bytes": 20000},
            "gpu_nodes": [{"name": "local", "devices": ["cpu"], "slots_per_device": 1}],
            "model": {"path": model, "scheduler": "ddim", "fast_steps": 6, "quality_steps": 6,
                      "width": WIDTH, "height": HEIGHT, "max_images_per_request": 4,
                      "intra_op_threads": 1},
            "batching": {"max_batch_size": 4, "max_wait_ms": 20, "max_queue": 100,
                         "step_level": True},
            "autoscale": {"min_workers": 1, "max_workers": 1},
        }
        path = os.path.join(self.folder.name, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.stderr = open(os.path.join(self.folder.name, "stderr.log"), "w+")
        self.process = subprocess.Popen([binary, "--role=all", "--config", path],
                                        stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        marker = "muse-node: listening on http://"
        deadline = time.monotonic() + 60
        address = None
        while address is None:
            line = self.process.stdout.readline()
            if not line:
                fail("muse-node printed no address:\n" + self.log())
            if marker in line:
                address = line.split(marker, 1)[1].strip()
            check(time.monotonic() < deadline, "muse-node did not start in 60 s")
        self.url = "http://" + address
        while True:
            status, _ = self.request("GET", "/readyz")
            if status == 200:
                break
            check(time.monotonic() < deadline, "muse-node not ready in 60 s:\n" + self.log())
            time.sleep(0.1)

    def log(self):
        self.stderr.seek(0)
        return self.stderr.read()[-4000:]

    def request(self, method, path, body=None):
        data = None if body is None else (body if isinstance(body, bytes) else
                                          json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        check(self.process.returncode == 0,
              "muse-node exited %s:\n%s" % (self.process.returncode, self.log()))


def png_size(data):
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG")
    check(data[12:16] == b"IHDR", "no IHDR first")
    return struct.unpack(">II", data[16:24])


def webuiapi_txt2img(**fields):
    """The body webuiapi's txt2img() posts, with its defaults."""
    body = {
        "enable_hr": False, "hr_scale": 2, "hr_upscaler": "Latent", "hr_second_pass_steps": 0,
        "hr_resize_x": 0, "hr_resize_y": 0, "denoising_strength": 0.7, "firstphase_width": 0,
        "firstphase_height": 0, "prompt": "", "styles": [], "seed": -1, "subseed": -1,
        "subseed_strength": 0.0, "seed_resize_from_h": 0, "seed_resize_from_w": 0,
        "sampler_name": "Euler a", "sampler_index": "Euler a", "batch_size": 1, "n_iter": 1,
        "steps": 20, "cfg_scale": 7.0, "width": WIDTH, "height": HEIGHT, "restore_faces": False,
        "tiling": False, "do_not_save_samples": False, "do_not_save_grid": False,
        "negative_prompt": "", "eta": 1.0, "s_churn": 0, "s_tmax": 0, "s_tmin": 0, "s_noise": 1,
        "override_settings": {}, "override_settings_restore_afterwards": True, "script_args": [],
        "script_name": None, "send_images": True, "save_images": False, "alwayson_scripts": {},
    }
    body.update(fields)
    return body


def test_lists(node):
    status, models = node.request("GET", "/sdapi/v1/sd-models")
    check(status == 200, "sd-models: %s %s" % (status, models))
    check([m["model_name"] for m in models] == ["tiny-sd"], "sd-models: %s" % models)
    check(models[0]["title"] == "tiny-sd", "sd-models title: %s" % models)
    status, samplers = node.request("GET", "/sdapi/v1/samplers")
    check(status == 200, "samplers: %s" % status)
    names = [s["name"] for s in samplers]
    for name in ("DDIM", "Euler", "Euler a"):
        check(name in names, "samplers lack %s: %s" % (name, names))
    for sampler in samplers:
        check(isinstance(sampler["aliases"], list) and isinstance(sampler["options"], dict),
              "sampler shape: %s" % sampler)
    return names


def test_txt2img(node, samplers):
    body = webuiapi_txt2img(prompt="a red circle", negative_prompt="blue", seed=42, steps=4,
                            batch_size=2, n_iter=1)
    status, answer = node.request("POST", "/sdapi/v1/txt2img", body)
    check(status == 200, "txt2img: %s %s" % (status, answer))
    images = [base64.b64decode(i) for i in answer["images"]]
    check(len(images) == 2, "txt2img: %d images" % len(images))
    for image in images:
        check(png_size(image) == (WIDTH, HEIGHT), "size %s" % (png_size(image),))
    check(images[0] != images[1], "two seeds gave one picture")
    info = json.loads(answer["info"])
    check(info["all_seeds"] == [42, 43], "info seeds: %s" % info["all_seeds"])
    check(info["seed"] == 42 and info["steps"] == 4 and info["sampler_name"] == "Euler a",
          "info: %s" % info)
    check(info["prompt"] == "a red circle" and info["negative_prompt"] == "blue",
          "info prompts: %s" % info)
    check((info["width"], info["height"]) == (WIDTH, HEIGHT), "info size: %s" % info)
    check(answer["parameters"]["prompt"] == "a red circle", "parameters: %s" % answer["parameters"])
    # The same request, the same pictures; seed -1 draws one, which info reports.
    status, again = node.request("POST", "/sdapi/v1/txt2img", body)
    check(status == 200 and [base64.b64decode(i) for i in again["images"]] == images,
          "the same seed gave other pictures")
    status, drawn = node.request("POST", "/sdapi/v1/txt2img",
                                 webuiapi_txt2img(prompt="x", steps=2))
    check(status == 200 and json.loads(drawn["info"])["seed"] >= 0, "seed -1: %s" % drawn)
    # Every sampler listed is one txt2img takes.
    for name in samplers:
        eta = 1.0 if name == "Euler a" else 0.0
        status, answer = node.request("POST", "/sdapi/v1/txt2img",
                                      webuiapi_txt2img(prompt="x", steps=3, sampler_name=name,
                                                       sampler_index=name, eta=eta, seed=1))
        check(status == 200, "sampler %s: %s %s" % (name, status, answer))
        check(json.loads(answer["info"])["sampler_name"] == name, "sampler %s" % name)
    return images[0]


def test_img2img(node, start):
    body = {"init_images": [base64.b64encode(start).decode()], "prompt": "a blue square",
            "denoising_strength": 0.5, "steps": 6, "seed": 9, "width": WIDTH, "height": HEIGHT,
            "sampler_name": "DDIM", "resize_mode": 0, "mask": None, "include_init_images": False}
    status, answer = node.request("POST", "/sdapi/v1/img2img", body)
    check(status == 200, "img2img: %s %s" % (status, answer))
    image = base64.b64decode(answer["images"][0])
    check(png_size(image) == (WIDTH, HEIGHT), "img2img size")
    check(answer["parameters"]["init_images"] is None, "init images echoed")
    check(json.loads(answer["info"])["denoising_strength"] == 0.5, "info strength")
    status, text = node.request("POST", "/sdapi/v1/txt2img",
                                {"prompt": "a blue square", "steps": 6, "seed": 9,
                                 "sampler_name": "DDIM"})
    check(status == 200 and base64.b64decode(text["images"][0]) != image,
          "the init image changed nothing")


def test_progress(node):
    status, idle = node.request("GET", "/sdapi/v1/progress")
    check(status == 200, "progress: %s" % status)
    check(idle["progress"] == 0 and idle["state"]["job_count"] == 0, "idle: %s" % idle)
    check("current_image" in idle and idle["current_image"] is None, "idle image: %s" % idle)
    result = {}

    def generate():
        result["answer"] = node.request(
            "POST", "/sdapi/v1/txt2img",
            webuiapi_txt2img(prompt="a slow one", steps=20, batch_size=1, sampler_name="DDIM",
                             sampler_index="DDIM", eta=0))

    thread = threading.Thread(target=generate)
    thread.start()
    seen = []
    while thread.is_alive():
        status, progress = node.request("GET", "/sdapi/v1/progress")
        check(status == 200, "progress while running: %s" % status)
        if progress["state"]["job_count"] == 1:
            seen.append(progress)
        time.sleep(0.005)
    thread.join()
    check(result["answer"][0] == 200, "the slow one: %s" % (result["answer"],))
    check(seen, "progress never showed the running order")
    for progress in seen:
        check(0 <= progress["progress"] <= 1, "progress: %s" % progress)
        check(progress["state"]["sampling_steps"] == 20, "steps: %s" % progress)
    steps = [p["state"]["sampling_step"] for p in seen]
    check(steps == sorted(steps), "steps went back: %s" % steps)
    status, after = node.request("GET", "/sdapi/v1/progress")
    check(after["progress"] == 0 and after["state"]["job_count"] == 0, "after: %s" % after)


def test_refusals(node):
    for fields, field in (({"enable_hr": True}, "enable_hr"),
                          ({"restore_faces": True}, "restore_faces"),
                          ({"subseed_strength": 0.3}, "subseed_strength"),
                          ({"batch_size": 3, "n_iter": 2}, "batch_size"),
                          ({"sampler_name": "Heun", "sampler_index": "Heun"}, "sampler_name")):
        status, answer = node.request("POST", "/sdapi/v1/txt2img",
                                      webuiapi_txt2img(prompt="x", steps=2, **fields))
        check(status == 400, "%s: %s %s" % (fields, status, answer))
        check(answer["error"]["field"] == field, "%s: %s" % (fields, answer))
        check(answer["detail"] == answer["error"]["message"], "detail: %s" % answer)
    status, answer = node.request("POST", "/sdapi/v1/txt2img", {"prompt": "x", "steps": "two"})
    check(status == 422 and answer["error"]["field"] == "steps", "422: %s %s" % (status, answer))
    status, answer = node.request("POST", "/sdapi/v1/img2img", {"prompt": "x"})
    check(status == 400 and answer["error"]["field"] == "init_images", "img2img: %s" % answer)


def main():
    binary, model = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    node = Node(binary, model)
    try:
        samplers = test_lists(node)
        start = test_txt2img(node, samplers)
        test_img2img(node, start)
        test_progress(node)
        test_refusals(node)
    except Exception:
        print(node.log(), file=sys.stderr)
        node.process.kill()
        raise
    node.stop()
    print("a1111 client: all checks passed")


if __name__ == "__main__":
    main()
