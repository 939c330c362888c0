#pragma once

#include <QMessageBox>

// The question asked when the user quits while tasks run: wait for them, cancel them, or
// quit at once (they come back interrupted, their groups paused). Main thread.
class QuitDialog : public QMessageBox
{
    Q_OBJECT
public:
    enum Choice { Stay, Wait, CancelThem, QuitNow };

    QuitDialog(int running, QWidget *parent = nullptr);
    Choice choice() const;

    // Shows the dialog modally and returns what the user chose.
    static Choice ask(int running, QWidget *parent);

private:
    QPushButton *m_wait;
    QPushButton *m_cancel;
    QPushButton *m_quit;
};
