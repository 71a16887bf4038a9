"""Drives the playground in Debian's headless Chromium through Selenium (the system chromedriver,
nothing downloaded).

    browser.py e2e URL OUTDIR CLI_MODEL   train the seed's spirals to the plateau stopper, download
                                          the model, open a CLI-trained model; screenshots checked
    browser.py bench URL [SECONDS]        epochs/s of TF Playground's default setup in the Worker,
                                          with the page's frames/s measured at the same time

Prints `playground: ok` and a JSON line of figures on success; any failed check exits non-zero.
"""
import json
import os
import struct
import sys
import time
import zlib

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = os.environ.get("MLP_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
# The seed's spirals demo (mlp::recipes::Spirals): 2-10-2, ReLU, softmax, SGD momentum 0.9 at 0.1,
# batch 32, He-uniform, 80/20 split, the plateau stopper.
SEED_SPIRALS = ("#data=seed-spirals&ratio=80&batch=32&lr=0.1&act=relu&layers=10&opt=momentum"
                "&init=he_uniform&plateau=1&out=softmax&loss=categorical_crossentropy")


def browser(downloads=None):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,1100",
              "--disable-background-timer-throttling", "--disable-renderer-backgrounding"):
        opts.add_argument(a)
    if downloads:
        opts.add_experimental_option("prefs", {"download.default_directory": downloads,
                                               "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    if downloads:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
    return driver


def wait(driver, js, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        v = driver.execute_script(js)
        if v:
            return v
        err = driver.execute_script("return window.playground && window.playground.error")
        if err:
            sys.exit(f"playground: the page shows an error while waiting for {what}: {err}")
        time.sleep(0.1)
    sys.exit(f"playground: timed out after {seconds} s waiting for {what}")


def png_pixels(data):
    """Decodes an 8-bit RGB or RGBA PNG (what Chromium writes) into (width, height, rows of RGB)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w, h, ctype = 8, b"", 0, 0, 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), f"PNG depth {depth} colour type {ctype}"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 3 if ctype == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows


def check_screenshot(path, what):
    """A whole-page screenshot that is not blank: many colours, not one flat fill."""
    _, _, rows = png_pixels(open(path, "rb").read())
    colours = {p for r in rows[::4] for p in r[::4]}
    assert len(colours) > 50, f"{what}: the screenshot {path} is blank ({len(colours)} colours)"


def check_boundary(driver, path, what):
    """The output heat map shows both classes: orange-tinted and blue-tinted areas, each ≥ 10%."""
    el = driver.find_element(By.ID, "output")
    png = el.screenshot_as_png
    open(path, "wb").write(png)
    _, _, rows = png_pixels(png)
    px = [p for r in rows for p in r]
    orange = sum(1 for r, g, b in px if r > b + 40) / len(px)
    blue = sum(1 for r, g, b in px if b > r + 40) / len(px)
    assert orange >= 0.1 and blue >= 0.1, f"{what}: no boundary drawn ({orange:.0%} orange, {blue:.0%} blue) in {path}"
    return {"orange": round(orange, 3), "blue": round(blue, 3)}


def percent(driver, id_):
    text = driver.find_element(By.ID, id_).text.strip().rstrip("%")
    return float(text)


def e2e(url, out, cli_model):
    figures = {}
    d = browser(downloads=out)
    try:
        d.get(url + SEED_SPIRALS)
        wait(d, "return window.playground.frame && window.playground.data", 60, "the first frame")
        d.save_screenshot(os.path.join(out, "1-setup.png"))
        check_screenshot(os.path.join(out, "1-setup.png"), "the set-up page")
        d.find_element(By.ID, "play").click()
        wait(d, "return window.playground.finished", 300, "the plateau stopper")
        time.sleep(0.5)  # the last frame drawn
        stop = d.find_element(By.ID, "stop").text
        acc = percent(d, "train-acc")
        figures.update(train_accuracy=acc, stop=stop, epoch=int(d.find_element(By.ID, "epoch").text))
        assert "plateau stopper" in stop, f"training ended otherwise: {stop!r}"
        assert acc >= 99.0, f"training accuracy on the page is {acc}%, below 99%"
        d.save_screenshot(os.path.join(out, "2-trained.png"))
        check_screenshot(os.path.join(out, "2-trained.png"), "the trained page")
        figures["trained_boundary"] = check_boundary(d, os.path.join(out, "2-trained-output.png"), "trained")
        target = os.path.join(out, "playground.safetensors")
        d.find_element(By.ID, "download").click()
        end = time.time() + 30
        while not os.path.exists(target) and time.time() < end:
            time.sleep(0.1)
        assert os.path.exists(target), "the model file was not downloaded"
        time.sleep(0.5)
        figures["model_bytes"] = os.path.getsize(target)
        # A model trained by `mlp train`, opened through the file input.
        d.execute_script("window.playground.frame = null")
        d.find_element(By.ID, "model-file").send_keys(os.path.abspath(cli_model))
        wait(d, "return window.playground.mode === 'model' && window.playground.frame && !window.playground.dirty", 30,
             "the opened model's boundary")
        time.sleep(0.3)
        shown = d.find_element(By.ID, "stop").text
        assert os.path.basename(cli_model) in shown, f"the page does not say it shows the model: {shown!r}"
        d.save_screenshot(os.path.join(out, "3-cli-model.png"))
        check_screenshot(os.path.join(out, "3-cli-model.png"), "the opened model")
        figures["cli_boundary"] = check_boundary(d, os.path.join(out, "3-cli-model-output.png"), "CLI model")
    finally:
        d.quit()
    print(json.dumps(figures))
    print("playground: ok")


def bench(url, seconds):
    """TF Playground's defaults (circle, 2-4-2-1 tanh, SGD 0.03, batch 10, ratio 50%)."""
    d = browser()
    try:
        d.get(url + "#")
        wait(d, "return window.playground.frame", 60, "the first frame")
        d.find_element(By.ID, "play").click()
        time.sleep(3)  # warm-up: compilation, first frames
        read = "const p = window.playground; return [p.status.epoch, performance.now(), p.fps];"
        e0, t0, _ = d.execute_script(read)
        fps = []
        for _ in range(int(seconds)):
            time.sleep(1)
            fps.append(d.execute_script(read)[2])
        e1, t1, _ = d.execute_script(read)
        eps = (e1 - e0) / ((t1 - t0) / 1000)
        fps.sort()
        result = {"epochs_per_s": round(eps), "fps_median": round(fps[len(fps) // 2], 1),
                  "fps_min": round(fps[0], 1), "seconds": round((t1 - t0) / 1000, 1), "epochs": e1 - e0}
    finally:
        d.quit()
    print(json.dumps(result))
    print("playground: ok")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "e2e":
        e2e(sys.argv[2], sys.argv[3], sys.argv[4])
    elif mode == "bench":
        bench(sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 10)
    else:
        sys.exit(f"unknown mode {mode}; use e2e or bench")
