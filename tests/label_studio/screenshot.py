"""Log in to Label Studio in headless Chromium and save screenshots of pages.

Run with the Label Studio virtualenv's Python (it has Selenium):
``screenshot.py URL EMAIL PASSWORD WIDTHxHEIGHT [--click TEXT] PATH=OUT.png ...``;
``--click`` clicks the first element showing TEXT before each screenshot.
"""

import argparse
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait


def main(url, email, password, size, pages, click=None):
    width, height = (int(v) for v in size.split("x"))
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        driver.get(f"{url}/user/login/")
        driver.find_element(By.NAME, "email").send_keys(email)
        driver.find_element(By.NAME, "password").send_keys(password)
        driver.find_element(
            By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]"
        ).click()
        WebDriverWait(driver, 120).until(lambda d: "/user/login" not in d.current_url)
        for page in pages:
            path, out = page.rsplit("=", 1)
            driver.get(f"{url}{path}")
            time.sleep(8)  # the React apps fetch tasks and images after load
            if click:
                # A loaded machine renders the labelling app slowly: wait for it.
                tab = WebDriverWait(driver, 120).until(
                    expected_conditions.element_to_be_clickable(
                        (By.XPATH, f"//*[contains(text(), '{click}')]")
                    )
                )
                tab.click()
                # Away from the tab, so that its tooltip does not cover the image.
                ActionChains(driver).move_to_element(
                    driver.find_element(By.TAG_NAME, "body")
                ).perform()
                time.sleep(2)
            driver.save_screenshot(out)
            print(f"saved {out} ({driver.title})")
    finally:
        driver.quit()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("url", "email", "password", "size"):
        parser.add_argument(name)
    parser.add_argument("--click")
    parser.add_argument("pages", nargs="+")
    args = parser.parse_args()
    main(args.url, args.email, args.password, args.size, args.pages, click=args.click)
