import React, { useEffect, useState } from 'react';

// The browser runs on the host, so it reaches the backend through the published port.
const API = 'http://localhost';

function App() {
  const [goals, setGoals] = useState([]);
  const [text, setText] = useState('');
  const [error, setError] = useState(null);

  async function load() {
    try {
      const res = await fetch(`${API}/goals`);
      const data = await res.json();
      if (!res.ok) throw new Error(data.message || 'Loading goals failed.');
      setGoals(data.goals);
    } catch (err) {
      setError(err.message);
    }
  }

  useEffect(() => {
    load();
  }, []);

  async function addGoal(event) {
    event.preventDefault();
    const res = await fetch(`${API}/goals`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text }),
    });
    if (res.ok) {
      setText('');
      load();
    } else {
      setError('Adding the goal failed.');
    }
  }

  async function deleteGoal(id) {
    await fetch(`${API}/goals/${id}`, { method: 'DELETE' });
    load();
  }

  return (
    <main>
      <h1>Course Goals</h1>
      {error && <p className="error">{error}</p>}
      <form onSubmit={addGoal}>
        <input value={text} onChange={(e) => setText(e.target.value)} placeholder="New goal" />
        <button type="submit">Add goal</button>
      </form>
      <ul>
        {goals.map((goal) => (
          <li key={goal.id} onClick={() => deleteGoal(goal.id)}>
            {goal.text}
          </li>
        ))}
      </ul>
    </main>
  );
}

export default App;
