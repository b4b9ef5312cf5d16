"""Home: what the lab compares and where to start."""

import streamlit as st

from ui.state import DATA_PAGE, GUIDE_PAGE, PLAYGROUND_PAGE, RESULTS_PAGE, TRAIN_PAGE

st.title("Transfer Learning Lab")
st.markdown(
    "Which way of reusing a pretrained language model works best for **your** text classification "
    "task, and what does it cost? Train the strategies side by side on real data, on this machine, "
    "and compare accuracy and time.")

st.subheader("The four strategies")
st.markdown(
    "- **Full fine-tuning**: every weight of a pretrained encoder keeps training on your labels, "
    "with a small learning rate. Usually the most accurate, and the slowest.\n"
    "- **Frozen encoder (last layer only)**: the pretrained encoder turns each text into a vector "
    "once; only a small classification layer on top learns. Fast, and strong when labels are few.\n"
    "- **From scratch**: the same network with random weights, no pretraining. It shows how much "
    "pretraining is worth.\n"
    "- **TF-IDF + logistic regression**: the classical baseline, word counts and no neural network. "
    "Seconds to train; any transfer-learning result should beat it.")
st.caption("More strategies (gradual unfreezing, discriminative learning rates, partial freezing, ...) "
           "are listed on the Train page.")

st.subheader("Where to start")
st.page_link(DATA_PAGE, label="1. Data: pick movie reviews, synthetic reviews or your own file",
             icon=":material/dataset:")
st.page_link(TRAIN_PAGE, label="2. Train: choose strategies and settings, watch them learn",
             icon=":material/model_training:")
st.page_link(RESULTS_PAGE, label="3. Results: accuracy, time, learning curves, confusion matrices",
             icon=":material/leaderboard:")
st.page_link(PLAYGROUND_PAGE, label="4. Playground: type a sentence, see what every model says",
             icon=":material/edit_note:")
st.page_link(GUIDE_PAGE, label="Guide: which strategy when, next to your own numbers",
             icon=":material/menu_book:")
st.info("A first comparison on the default data (Rotten Tomatoes, 1,000 training sentences) "
        "takes a few minutes on a laptop CPU; the frozen encoder and TF-IDF finish in under a minute.")
