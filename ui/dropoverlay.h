#pragma once

#include <QLabel>

// What the window shows while files are dragged over it: a frame over the whole window
// saying what a drop does. Transparent to the mouse; the window shows and hides it on
// drag enter, leave and drop. Main thread.
class DropOverlay : public QLabel
{
    Q_OBJECT
public:
    explicit DropOverlay(QWidget *parent);
    // Covers the parent and says how many files (or folders) a drop would queue.
    void showFor(int files);

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;
};
