const fs = require('fs');
const path = require('path');

const express = require('express');
const bodyParser = require('body-parser');
const mongoose = require('mongoose');
const morgan = require('morgan');

const app = express();

// Access log in /app/logs, which the compose file keeps on the `logs` named volume.
fs.mkdirSync(path.join(__dirname, 'logs'), { recursive: true });
const accessLogStream = fs.createWriteStream(
  path.join(__dirname, 'logs', 'access.log'),
  { flags: 'a' }
);
app.use(morgan('combined', { stream: accessLogStream }));
app.use(bodyParser.json());

app.use((req, res, next) => {
  // The React dev server runs on another origin (localhost:3000).
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', 'Content-Type');
  next();
});

const Goal = mongoose.model('Goal', new mongoose.Schema({ text: String }));

app.get('/goals', async (req, res) => {
  try {
    const goals = await Goal.find();
    res.status(200).json({ goals: goals.map((g) => ({ id: g.id, text: g.text })) });
  } catch (err) {
    console.error('loading goals failed:', err.message);
    res.status(500).json({ message: 'Failed to load goals.' });
  }
});

app.post('/goals', async (req, res) => {
  const text = req.body.text;
  if (!text || text.trim().length === 0) {
    return res.status(422).json({ message: 'Invalid goal text.' });
  }
  try {
    const goal = await new Goal({ text }).save();
    res.status(201).json({ message: 'Goal saved', goal: { id: goal.id, text: goal.text } });
  } catch (err) {
    console.error('saving goal failed:', err.message);
    res.status(500).json({ message: 'Failed to save goal.' });
  }
});

app.delete('/goals/:id', async (req, res) => {
  try {
    await Goal.deleteOne({ _id: req.params.id });
    res.status(200).json({ message: 'Deleted goal!' });
  } catch (err) {
    console.error('deleting goal failed:', err.message);
    res.status(500).json({ message: 'Failed to delete goal.' });
  }
});

// `mongodb` is the compose service name: the stack's network resolves it.
mongoose.connect(
  `mongodb://${process.env.MONGODB_USERNAME}:${process.env.MONGODB_PASSWORD}@mongodb:27017/course-goals?authSource=admin`,
  (err) => {
    if (err) {
      console.error('FAILED TO CONNECT TO MONGODB');
      console.error(err);
      process.exit(1);
    }
    console.log('CONNECTED TO MONGODB');
    app.listen(80);
  }
);
