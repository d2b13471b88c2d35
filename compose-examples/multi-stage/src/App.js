import React from 'react';

function App() {
  return (
    <main>
      <h1>Served by nginx</h1>
      <p>Built in a node stage, copied into an nginx stage. No node in this image.</p>
    </main>
  );
}

export default App;
