// Paying with real Stripe keys: Stripe Elements (Stripe.js, loaded from Stripe as it requires) with
// the booking's PaymentIntent. The booking becomes paid from Stripe's webhook, never from this page.
import { lang, pageData } from "./common.js";

const data = pageData("stripe-data");
const form = document.getElementById("payment-form");
if (data && form && window.Stripe) {
  const stripe = window.Stripe(data.publishableKey, { locale: lang.startsWith("zh") ? "zh" : "en" });
  const elements = stripe.elements({ clientSecret: data.clientSecret });
  elements.create("payment").mount("#payment-element");
  const error = document.getElementById("payment-error");
  const submit = document.getElementById("payment-submit");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    const result = await stripe.confirmPayment({ elements, confirmParams: { return_url: data.returnUrl } });
    // Only reached when the confirmation failed at once (otherwise Stripe redirects to returnUrl).
    if (result.error) {
      error.textContent = result.error.message;
      error.hidden = false;
    }
    submit.disabled = false;
  });
}
